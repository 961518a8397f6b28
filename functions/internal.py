"""Envelope and guard for the internal functions (task targets and backend callbacks)."""

from __future__ import annotations

import flask

from functions.http import json_response
from shared.engine import validate
from shared.engine.errors import AppError, ErrorKind
from shared.engine.task_auth import require_task_token

STATUS = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.CONFLICT: 409,
    ErrorKind.GONE: 410,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.INSUFFICIENT_FUNDS: 402,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}


def render_error(exc: AppError) -> flask.Response:
    return json_response({"error": exc.message}, STATUS[exc.kind])


def require_task(request: flask.Request, target: str) -> None:
    """Refuse (401) a call of the task target `target` (a `queue.Target` name) that does not
    carry the tasks account's OIDC ID token for that target's URL."""
    require_task_token(request.headers.get("Authorization"), target)


def task_attempt(request: flask.Request) -> int:
    attempt = validate.strict_int(request.headers.get("X-CloudTasks-TaskRetryCount", "0"))
    return attempt if attempt is not None and attempt >= 0 else 0
