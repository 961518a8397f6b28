"""Model Manager's envelope and callers: what every library route shares.

- Every error is `{"error": "<message>"}` with the status its kind maps to (the document's
  401 / 403 / 404, 400 for bad input, 413 for a body past its limit).
- `/api/v1/*` callers present `Authorization: Bearer <key>`: the library key or a Relay
  admin's API key (shared/library/keys.py). The internal `/api/models/*` routes and the web
  UI take the browser session cookie (`__session`: the only cookie Firebase Hosting
  forwards) as well; a cookie-authenticated write must come from the site's own pages (its
  Origin, when the browser sends one, is one of the site's allowed origins).
"""

from __future__ import annotations

from typing import Any, TypeVar

import flask
from pydantic import BaseModel, ValidationError

from functions import internal
from functions.http import json_response, parse_body, validation_message
from shared.engine import identity
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.library import keys, sessions
from shared.library.records import MAX_ID

M = TypeVar("M", bound=BaseModel)

# The internal functions' status table, but GONE is 404: the document tables no 410.
STATUS: dict[ErrorKind, int] = {**internal.STATUS, ErrorKind.GONE: 404}


def render_error(exc: AppError) -> flask.Response:
    status = STATUS.get(exc.kind, 500)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return json_response({"error": exc.message}, status, headers)


def ok(data: Any, status: int = 200) -> flask.Response:
    return json_response(data, status)


def invalid(message: str) -> AppError:
    return AppError(ErrorKind.INVALID, message)


def body(request: flask.Request, model: type[M]) -> M:
    """The JSON body as `model`; 400 with the first problem otherwise."""
    try:
        return parse_body(request, model)
    except ValidationError as exc:
        raise invalid(validation_message(exc)) from None


def model_id(raw: str) -> int:
    """A model (or image) id from the path: a positive integer below 2**52, else 400."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16 or not 0 < int(raw) <= MAX_ID:
        raise invalid("Invalid model ID")
    return int(raw)


def image_id(raw: str) -> int:
    """A user image id from the path: like a model id, 400 "Invalid image ID" otherwise."""
    try:
        return model_id(raw)
    except AppError:
        raise invalid("Invalid image ID") from None


def api_caller(request: flask.Request) -> None:
    """A `/api/v1` request: the bearer key must be the library key or a Relay admin key. A
    read (GET / HEAD) without an Authorization header may present the UI's session cookie
    instead: the web UI lists, shows and downloads through these routes."""
    authorization = request.headers.get("Authorization")
    if authorization is None and request.method in ("GET", "HEAD") and session_token(request):
        sessions.check(session_token(request))
        return
    keys.check(identity.bearer_token(authorization))


def session_token(request: flask.Request) -> str | None:
    return request.cookies.get(sessions.COOKIE)


def ui_caller(request: flask.Request) -> None:
    """An internal route or a UI page: the bearer key, else the session cookie; a write on
    the cookie alone must come from this site's own pages."""
    if request.headers.get("Authorization"):
        api_caller(request)
        return
    sessions.check(session_token(request))
    if request.method not in ("GET", "HEAD"):
        same_site(request)


def same_site(request: flask.Request) -> None:
    """FORBIDDEN when the browser says the request comes from a page outside the site's
    allowed origins (settings; by default the request's own host). Behind Firebase Hosting
    the function's host is not the site's, so production lists the site's origins."""
    origin = request.headers.get("Origin")
    allowed = get_settings().library_allowed_origins or [request.host_url]
    if origin is not None and origin.rstrip("/") not in {o.rstrip("/") for o in allowed}:
        raise AppError(ErrorKind.FORBIDDEN, "Cross-site request refused")
