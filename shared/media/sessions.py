"""Browser sessions: an opaque cookie whose SHA-256 is the server-side record's id.

The cookie value is never stored; a session is live while its record exists, has not
expired and has not been revoked, so `DELETE /auth/browser/session` (or revoking from the
server) ends it on the next request. The cookie is HttpOnly, SameSite=Lax, and Secure
everywhere but the local stack (plain-HTTP loopback).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from shared.engine import clock
from shared.engine.settings import get_settings
from shared.engine.store import db

COOKIE = "kt_session"
SESSIONS = "browser_sessions"
LIFETIME = dt.timedelta(days=30)


@dataclass(frozen=True)
class Session:
    id: str  # the SHA-256 of the cookie value
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
    return {
        "httponly": True,
        "secure": get_settings().environment != "local",
        "samesite": "Lax",
        "path": "/",
    }
