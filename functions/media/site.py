"""Killa Tamata's envelope and the caller resolution every authenticated route shares.

The document gives no error schema, so errors render as
`{"error": {"code": "<snake_case>", "message": "..."}}` (docs/decisions.md) with the status
codes below; this table is the only place kinds become Killa Tamata codes. A caller is an
API key (`Authorization: Bearer`) or, for a browser, the session cookie.
"""

from __future__ import annotations

from dataclasses import dataclass

import flask

from functions.http import json_response
from shared.engine import identity
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import ApiKey
from shared.media import sessions

ERRORS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.INVALID: (400, "invalid_request"),
    ErrorKind.UNAUTHENTICATED: (401, "unauthorized"),
    ErrorKind.INSUFFICIENT_FUNDS: (402, "insufficient_credits"),
    ErrorKind.FORBIDDEN: (403, "forbidden"),
    ErrorKind.NOT_FOUND: (404, "not_found"),
    ErrorKind.METHOD_NOT_ALLOWED: (405, "method_not_allowed"),
    ErrorKind.CONFLICT: (409, "conflict"),
    ErrorKind.GONE: (410, "gone"),
    ErrorKind.TOO_LARGE: (413, "payload_too_large"),
    ErrorKind.RATE_LIMITED: (429, "rate_limited"),
    ErrorKind.UNAVAILABLE: (503, "service_unavailable"),
    ErrorKind.INTERNAL: (500, "internal_error"),
}


def render_error(exc: AppError) -> flask.Response:
    status, code = ERRORS[exc.kind]
    code = exc.details.get("code", code)
    body: dict[str, object] = {"code": code, "message": exc.message}
    extra = {
        k: v for k, v in exc.details.items() if k not in ("code", "retry_after", "rate_window")
    }
    if extra:
        body["details"] = extra
    headers = None
    if "retry_after" in exc.details:
        headers = {"Retry-After": str(exc.details["retry_after"])}
        body["retryAfterSeconds"] = exc.details["retry_after"]
    return json_response({"error": body}, status, headers)


@dataclass(frozen=True)
class Caller:
    account_id: str
    key: ApiKey | None  # None for a browser session


def authenticate(request: flask.Request) -> Caller:
    """The caller's account: an active API key, else a live browser session."""
    raw = identity.bearer_token(request.headers.get("Authorization"))
    if raw is not None or request.headers.get("Authorization"):
        key = identity.authenticate_key(raw)
        return Caller(account_id=key.account_id, key=key)
    session = sessions.from_cookie(request.cookies.get(sessions.COOKIE))
    if session is None:
        raise AppError(ErrorKind.UNAUTHENTICATED, "API key or browser session required")
    return Caller(account_id=session.account_id, key=None)
