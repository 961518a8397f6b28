"""Vibe Earning's envelope and auth.

Errors are `{"error": "<word>"}`; validation errors on job submission are
`{"errors": ["..."]}`. Both with the document's codes (422 for validation and for an
operation the job's state does not allow).
"""

from __future__ import annotations

import flask

from functions.http import json_response
from shared.engine import identity
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import ApiKey
from shared.grid import workers

ERRORS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.INVALID: (422, "validation_error"),
    ErrorKind.UNAUTHENTICATED: (401, "unauthorized"),
    ErrorKind.FORBIDDEN: (403, "forbidden"),
    ErrorKind.NOT_FOUND: (404, "not_found"),
    ErrorKind.METHOD_NOT_ALLOWED: (405, "method_not_allowed"),
    ErrorKind.CONFLICT: (422, "invalid_state"),
    ErrorKind.GONE: (410, "gone"),
    ErrorKind.TOO_LARGE: (413, "payload_too_large"),
    ErrorKind.INSUFFICIENT_FUNDS: (422, "insufficient_balance"),
    ErrorKind.RATE_LIMITED: (429, "rate_limited"),
    ErrorKind.UNAVAILABLE: (503, "unavailable"),
    ErrorKind.INTERNAL: (500, "internal_error"),
}
# Messages that are already the document's words are sent as they are.
WORDS = {"unauthorized", "not_found"}


def render_error(exc: AppError) -> flask.Response:
    status, word = ERRORS[exc.kind]
    if "errors" in exc.details:
        return json_response({"errors": list(exc.details["errors"])}, status)
    message = (
        exc.message
        if exc.message in WORDS
        or exc.kind in (ErrorKind.INVALID, ErrorKind.CONFLICT, ErrorKind.INSUFFICIENT_FUNDS)
        else word
    )
    return json_response({"error": message}, status)


def render_submit_error(exc: AppError) -> flask.Response:
    """POST /jobs reports its 422s (validation, an Idempotency-Key reused with another
    request) as a list, the document's only 422 body for it."""
    if ERRORS[exc.kind][0] == 422 and "errors" not in exc.details:
        exc = AppError(exc.kind, exc.message, {**exc.details, "errors": [exc.message]})
    return render_error(exc)


def authenticate(request: flask.Request, *, worker_route: bool = False) -> tuple[ApiKey, str]:
    """The caller's active key and the presented secret (the webhook signing key). A
    worker-bound key is 403 here unless this is a worker route (identity.py's rule)."""
    raw = identity.bearer_token(request.headers.get("Authorization"))
    try:
        return identity.authenticate_key(raw, worker_route=worker_route), raw or ""
    except AppError as exc:
        if exc.kind is ErrorKind.FORBIDDEN:
            raise AppError(ErrorKind.FORBIDDEN, "forbidden") from exc
        raise AppError(ErrorKind.UNAUTHENTICATED, "unauthorized") from exc


def authenticate_worker(request: flask.Request) -> workers.Worker:
    key, _ = authenticate(request, worker_route=True)
    if key.worker_id is None:
        raise AppError(ErrorKind.UNAUTHENTICATED, "unauthorized")
    try:
        return workers.get(key.worker_id)
    except AppError as exc:
        raise AppError(ErrorKind.UNAUTHENTICATED, "unauthorized") from exc
