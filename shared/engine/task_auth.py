"""Who may call a task target: Cloud Tasks and Cloud Scheduler, with the tasks account's
OIDC ID token.

Invariants:
- Every task target verifies a Bearer ID token before it reads its body: signed by Google
  (its published certificates) in production, by the local signing key
  (`settings.signing_key_file`) locally — `settings.environment` chooses which, and there
  is no third way: verification is never skipped, and without the local key nothing local
  verifies.
- A token is accepted only for the target it names: `aud` == that function's own URL
  (`queue.task_url(target)`), `iss` Google's, `email` == `settings.tasks_service_account`
  and `email_verified`; expired, not-yet-valid, unsigned or otherwise signed tokens are
  refused. Every refusal is the same 401 ("not a task"), the reason goes to the log only.
- Locally the tasks emulator does not mint tokens, so the enqueuer (and the stack's sweep
  loop, playing Cloud Scheduler) sign one with the same claims Google's carry; the code
  that verifies is the production code, only the issuer's key differs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from google.auth import crypt, jwt

from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings

log = logging.getLogger(__name__)

GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
# Google's ID tokens live one hour; locally minted ones the same (after any task delay).
TOKEN_LIFETIME_S = 3600
CERTS_TTL_S = 300.0
LOCAL_KEY_ID = "relay-local"

_certs_lock = threading.Lock()
_google_certs: tuple[float, dict[str, str]] = (0.0, {})


def require_task_token(authorization: str | None, target: str) -> dict[str, Any]:
    """The verified claims of the request's `Authorization: Bearer <ID token>` for `target`
    (a `queue.Target` name); raises UNAUTHENTICATED otherwise."""
    from shared.engine.queue import task_url

    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError(ErrorKind.UNAUTHENTICATED, "not a task")
    try:
        claims = _decode(token.strip(), audience=task_url(target))
    except (ValueError, KeyError, OSError) as exc:  # google.auth's errors are ValueErrors
        log.warning("task token refused for %s: %s", target, exc)
        raise AppError(ErrorKind.UNAUTHENTICATED, "not a task") from exc
    settings = get_settings()
    problem = (
        "issuer"
        if claims.get("iss") not in GOOGLE_ISSUERS
        else "email"
        if claims.get("email") != settings.tasks_service_account
        else "unverified email"
        if claims.get("email_verified") is not True
        else None
    )
    if problem:
        log.warning("task token refused for %s: wrong %s", target, problem)
        raise AppError(ErrorKind.UNAUTHENTICATED, "not a task")
    return claims


def _decode(token: str, *, audience: str) -> dict[str, Any]:
    if get_settings().environment == "local":
        certs = {LOCAL_KEY_ID: _local_public_pem()}
    else:
        certs = _google_public_certs(_key_id(token))
    claims: dict[str, Any] = jwt.decode(token, certs=certs, audience=audience)
    return claims


def _key_id(token: str) -> str | None:
    header, _ = jwt._unverified_decode(token)[:2]  # only to pick the certificate
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _google_public_certs(kid: str | None) -> dict[str, str]:
    """Google's current certificates, cached a few minutes; refetched at once for an unknown
    key id (Google rotates them)."""
    global _google_certs
    from shared.engine.clients import http_client

    with _certs_lock:
        fetched_at, certs = _google_certs
        if kid in certs and time.monotonic() - fetched_at < CERTS_TTL_S:
            return certs
        response = http_client().get(GOOGLE_CERTS_URL, timeout=5.0)
        response.raise_for_status()
        certs = {str(k): str(v) for k, v in response.json().items()}
        _google_certs = (time.monotonic(), certs)
        return certs


def _local_key_file() -> str:
    key_file = get_settings().signing_key_file
    if not key_file:
        raise ValueError("no local signing key (RELAY_SIGNING_KEY_FILE)")
    return key_file


def _local_key_info() -> dict[str, Any]:
    return _read_key(_local_key_file())


@lru_cache(maxsize=4)
def _read_key(path: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(Path(path).read_text())
    return info


def _local_public_pem() -> str:
    return _public_pem(_local_key_file())


# Loading an RSA private key validates it (about 30 ms of CPU): once per key file, not per
# token signed or verified.
@lru_cache(maxsize=4)
def _public_pem(path: str) -> str:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(
        _read_key(path)["private_key"].encode(), password=None
    )
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign_token(
    *,
    audience: str,
    email: str,
    key_info: dict[str, Any],
    valid_from: float | None = None,
    lifetime_s: int = TOKEN_LIFETIME_S,
    issuer: str = "https://accounts.google.com",
    email_verified: bool = True,
) -> str:
    """An ID token shaped like Google's, signed by `key_info` (a service-account JSON)."""
    iat = int(valid_from if valid_from is not None else time.time())
    payload = {
        "iss": issuer,
        "aud": audience,
        "azp": "0",
        "sub": "0",
        "email": email,
        "email_verified": email_verified,
        "iat": iat,
        "exp": iat + lifetime_s,
    }
    return jwt.encode(
        _signer(json.dumps(key_info, sort_keys=True)), payload, key_id=LOCAL_KEY_ID
    ).decode()


@lru_cache(maxsize=8)
def _signer(key_json: str) -> crypt.RSASigner:
    return crypt.RSASigner.from_service_account_info(json.loads(key_json))


def local_token(audience: str, *, delay_s: float = 0.0) -> str:
    """The token the local stand-ins for Cloud Tasks and Scheduler present: the tasks
    account's, for `audience`, valid for an hour after the task is due."""
    return sign_token(
        audience=audience,
        email=get_settings().tasks_service_account,
        key_info=_local_key_info(),
        lifetime_s=TOKEN_LIFETIME_S + int(max(0.0, delay_s)),
    )
