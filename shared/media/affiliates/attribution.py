"""Signed attribution tokens: what a referral link leaves in the visitor's browser.

Invariants: a token is issued only for an active affiliate's code and names that code in
its canonical spelling; it is `<body>.<signature>`, the body a JSON {code, iat, exp} and the
signature HMAC-SHA256 of the body under the media token key, so no one without the key can
make or alter one; it lives ATTRIBUTION_TTL (30 days); token_code() compares signatures in
constant time and answers None, never an error, for anything forged, malformed or expired.
Tokens write nothing: binding happens in bindings.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from shared.engine import clock
from shared.engine.errors import AppError
from shared.engine.settings import get_settings
from shared.engine.validate import loads_json
from shared.media.affiliates.models import ATTRIBUTION_TTL, Capture
from shared.media.affiliates.profiles import known


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(body: str) -> str:
    key = get_settings().media_token_key.encode()
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def capture(code: str) -> Capture:
    """A signed attribution token for a known code: {code, iat, exp} under HMAC-SHA256."""
    profile = known(code)
    now = clock.now()
    expires = now + ATTRIBUTION_TTL
    payload = {"code": profile.code, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return Capture(code=profile.code, token=f"{body}.{_sign(body)}", expires_at=expires)


def token_code(token: str) -> str | None:
    """The code a genuine, unexpired attribution token names; None for anything else."""
    body, _, signature = token.partition(".")
    if not body or not hmac.compare_digest(signature.encode(), _sign(body).encode()):
        return None
    try:
        payload = loads_json(_unb64(body))
        code, exp = str(payload["code"]), int(payload["exp"])
    except (AppError, ValueError, KeyError, TypeError):
        return None
    return code if exp > clock.now().timestamp() else None
