"""Killa Tamata's envelope and the caller resolution every authenticated route shares.

The document gives no error schema, so errors render as
`{"error": {"code": "<snake_case>", "message": "..."}}` (docs/decisions.md) with the status
codes below; this table is the only place kinds become Killa Tamata codes. A caller is an
API key (`Authorization: Bearer`; never a worker-bound key, identity.py) or, for a browser,
the session in the `__session` cookie (shared/media/sessions.py), whose writes must come
from the site's own origin as JSON (functions/browser.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import flask

from functions.browser import require_own_origin
from functions.http import json_response
from shared.engine import identity
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import ApiKey
from shared.engine.settings import get_settings
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


def authenticate(request: flask.Request, *, file_body: bool = False) -> Caller:
    """The caller's account: an active API key, else a live browser session (whose
    writes must pass the same-origin guard, and be JSON unless the route's documented body
    is a file: `file_body` for the octet-stream and multipart uploads, where the Origin check
    alone refuses a cross-site form)."""
    raw = identity.bearer_token(request.headers.get("Authorization"))
    if raw is not None or request.headers.get("Authorization"):
        key = identity.authenticate_key(raw)
        return Caller(account_id=key.account_id, key=key)
    session = sessions.from_cookie(cookie_jar(request).session)
    if session is None:
        raise AppError(ErrorKind.UNAUTHENTICATED, "API key or browser session required")
    require_own_origin(request, allowed_origins(), json_body=not file_body)
    return Caller(account_id=session.account_id, key=None)


def allowed_origins() -> list[str]:
    settings = get_settings()
    return settings.media_allowed_origins or [settings.media_public_url]


def browser_guard(request: flask.Request) -> None:
    """A cookie-setting or cookie-authenticated write: own origin, JSON body."""
    require_own_origin(request, allowed_origins())


def cookie_jar(request: flask.Request) -> sessions.Jar:
    return sessions.decode_jar(request.cookies.get(sessions.COOKIE))


def store_jar(response: flask.Response, request: flask.Request, **changes: str | None) -> None:
    """Set the cookie to the request's Jar with `changes` (session=..., attribution=...),
    keeping the other part; an empty Jar deletes the cookie."""
    updated = replace(cookie_jar(request), **changes)
    if updated.session is None and updated.attribution is None:
        response.delete_cookie(sessions.COOKIE, **sessions.cookie_options())
        return
    response.set_cookie(
        sessions.COOKIE,
        sessions.encode_jar(updated),
        max_age=int(sessions.COOKIE_LIFETIME.total_seconds()),
        **sessions.cookie_options(),
    )
