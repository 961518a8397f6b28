"""Browser sessions: an opaque token whose SHA-256 is the server-side record's id, and the
one cookie that carries it.

The token is never stored; a session is live while its record exists, has not expired and
has not been revoked, so `DELETE /auth/browser/session` (or revoking from the server) ends
it on the next request. Firebase Hosting forwards only the cookie named `__session` to
functions, so everything the media site keeps in a browser (the session token and the
affiliate attribution token) travels in that one cookie as a Jar: `<body>.<signature>`, the
body base64url JSON {"s": session token, "a": attribution token}, the signature
HMAC-SHA256 under the media token key (domain-separated from attribution tokens). A forged,
altered or malformed cookie reads as an empty Jar, never an error; each part still carries
its own proof (the session record, the attribution token's own signature and expiry).
Setting one part keeps the other. The cookie is HttpOnly, SameSite=Lax, and Secure
everywhere but the local stack (plain-HTTP loopback).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from shared.engine import clock
from shared.engine.settings import get_settings
from shared.engine.store import db

COOKIE = "__session"  # the only cookie Firebase Hosting forwards to functions
SESSIONS = "browser_sessions"
LIFETIME = dt.timedelta(days=30)
COOKIE_LIFETIME = LIFETIME  # each part also expires on its own
MAX_COOKIE = 4096
_PURPOSE = b"media-cookie-jar:"


@dataclass(frozen=True)
class Jar:
    """What the media site's one cookie carries."""

    session: str | None = None  # the browser session token
    attribution: str | None = None  # the signed affiliate attribution token


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signature(body: str) -> str:
    key = get_settings().media_token_key.encode()
    return _b64(hmac.new(key, _PURPOSE + body.encode(), hashlib.sha256).digest())


def encode_jar(jar: Jar) -> str:
    parts = {k: v for k, v in (("s", jar.session), ("a", jar.attribution)) if v}
    body = _b64(json.dumps(parts, separators=(",", ":")).encode())
    return f"{body}.{_signature(body)}"


def decode_jar(value: str | None) -> Jar:
    if not value or len(value) > MAX_COOKIE:
        return Jar()
    body, _, signature = value.partition(".")
    if not body or not hmac.compare_digest(signature.encode(), _signature(body).encode()):
        return Jar()
    try:
        parts = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return Jar()
    if not isinstance(parts, dict):
        return Jar()
    session, attribution = parts.get("s"), parts.get("a")
    return Jar(
        session=session if isinstance(session, str) else None,
        attribution=attribution if isinstance(attribution, str) else None,
    )


@dataclass(frozen=True)
class Session:
    id: str  # the SHA-256 of the session token
    account_id: str
    created_at: dt.datetime
    expires_at: dt.datetime
    method: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(*, account_id: str, method: str) -> tuple[str, Session]:
    """A new session for the account; returns the cookie value (shown once) and the record."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session = Session(
        id=_hash(token),
        account_id=account_id,
        created_at=now,
        expires_at=now + LIFETIME,
        method=method,
    )
    db().collection(SESSIONS).document(session.id).create(
        {
            "account_id": account_id,
            "created_at": now,
            "expires_at": session.expires_at,
            "method": method,
            "revoked_at": None,
        }
    )
    return token, session


def from_cookie(token: str | None) -> Session | None:
    if not token or len(token) > 128:
        return None
    snap = db().collection(SESSIONS).document(_hash(token)).get()
    if not snap.exists:
        return None
    data = snap.to_dict()
    if data.get("revoked_at") is not None or data["expires_at"] <= clock.now():
        return None
    return Session(
        id=snap.id,
        account_id=data["account_id"],
        created_at=data["created_at"],
        expires_at=data["expires_at"],
        method=data.get("method", ""),
    )


def revoke(token: str | None) -> bool:
    session = from_cookie(token)
    if session is None:
        return False
    db().collection(SESSIONS).document(session.id).update({"revoked_at": clock.now()})
    return True


def cookie_options() -> dict[str, Any]:
    """How the cookie is set (and deleted: the same path and flags)."""
    return {
        "httponly": True,
        "secure": get_settings().environment != "local",
        "samesite": "Lax",
        "path": "/",
    }
