"""PicShapes' envelope and the auth every authenticated PicShapes route shares.

Errors render as `{"error": <message>, "code": <CODE>, ...}` with the document's status
codes; this table is the only place kinds become PicShapes codes.
"""

from __future__ import annotations

import flask

from functions.http import json_response
from shared.engine import background, identity, ratelimit
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import Account, ApiKey
from shared.engine.settings import get_settings

ERRORS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.INVALID: (400, "INVALID_REQUEST"),
    ErrorKind.UNAUTHENTICATED: (401, "UNAUTHORIZED"),
    ErrorKind.INSUFFICIENT_FUNDS: (402, "INSUFFICIENT_CREDITS"),
    ErrorKind.FORBIDDEN: (403, "FORBIDDEN"),
    ErrorKind.NOT_FOUND: (404, "NOT_FOUND"),
    ErrorKind.METHOD_NOT_ALLOWED: (405, "METHOD_NOT_ALLOWED"),
    ErrorKind.CONFLICT: (409, "CONFLICT"),
    ErrorKind.GONE: (410, "GONE"),
    ErrorKind.TOO_LARGE: (413, "PAYLOAD_TOO_LARGE"),
    ErrorKind.RATE_LIMITED: (429, "RATE_LIMIT_EXCEEDED"),
    ErrorKind.UNAVAILABLE: (503, "SERVICE_UNAVAILABLE"),
    ErrorKind.INTERNAL: (500, "INTERNAL_ERROR"),
}
# Extra fields the document puts beside error/code.
PASSTHROUGH = ("credits", "credits_needed", "retry_after")


def render_error(exc: AppError) -> flask.Response:
    status, code = ERRORS[exc.kind]
    body = {"error": exc.message, "code": exc.details.get("code", code)}
    body.update({k: exc.details[k] for k in PASSTHROUGH if k in exc.details})
    headers = (
        {"Retry-After": str(exc.details["retry_after"])} if "retry_after" in exc.details else None
    )
    return json_response(body, status, headers)


def authenticate(request: flask.Request) -> ApiKey:
    """The caller's active key, counted against the per-key rate limits.

    The count's subject is the key's hash, known before the key is read, so the count and
    the key read (revocation) overlap: one round trip of latency, not two. An unknown or
    revoked key still answers 401 (the key is judged first); its count is a TTL'd window
    document, as a known key's is."""
    raw = identity.bearer_token(request.headers.get("Authorization"))
    key_hash = identity.presented_key_hash(raw)
    settings = get_settings()
    counted = background.start(
        lambda: ratelimit.hit(
            subject=f"pics:{key_hash}",
            limits=[(60, settings.pics_rate_per_minute), (86_400, settings.pics_rate_per_day)],
        )
    )
    try:
        key = identity.authenticate_key(raw)
    except AppError:
        counted.exception()  # join it; the key's refusal is the answer
        raise
    counted.result()
    return key


def authenticate_account(request: flask.Request) -> Account:
    """The caller's account (one more read than `authenticate`; for profile routes)."""
    key = authenticate(request)
    try:
        return identity.get_account(key.account_id)
    except AppError as exc:
        raise AppError(ErrorKind.UNAUTHENTICATED, "Invalid or missing API key") from exc
