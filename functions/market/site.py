"""Tarsify's envelope, error table, callers and rate limits: what every market route shares.

- Success: `{"success": true, "data": ..., "meta"?: {...}}`; errors:
  `{"success": false, "error": {"code": "ERR_xxxx", "message", "details"?}}`. A service
  names a documented code in `details["code"]`; otherwise its kind's default code is used.
  `CODES` is the only place a code gets its status: every code renders with the status the
  document tables for it.
- Callers: a Firebase ID token (the developer project for studio and admin routes, either
  project on the marketplace) or a Relay API key of the same account. Missing credentials
  are ERR_1001, bad ones ERR_1002.
- Rate limits per minute, as documented: auth endpoints 10 (per account, or per client IP
  before sign-in), authenticated 200 (per account), public 100 (per client IP; also what a
  request that fails to authenticate counts against). Every response carries the window it
  was counted in (`X-RateLimit-Limit/-Remaining/-Reset`); over the limit: 429 in the
  envelope with `Retry-After`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import flask
from pydantic import BaseModel, ValidationError

from functions.http import (
    Handler,
    client_network,
    entry_point,
    json_response,
    parse_body,
    read_body,
)
from shared.engine import identity, ratelimit
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.market import records

M = TypeVar("M", bound=BaseModel)

# code -> (HTTP status, the document's message). ERR_4050 and ERR_4290 are Relay's
# (docs/decisions.md): the document tables no code for a wrong method or a rate limit.
CODES: dict[str, tuple[int, str]] = {
    "ERR_1001": (401, "Authentication required"),
    "ERR_1002": (401, "Invalid or expired token"),
    "ERR_1003": (403, "Insufficient permissions"),
    "ERR_1004": (404, "User not found - registration required"),
    "ERR_1005": (409, "User already registered"),
    "ERR_2001": (400, "Invalid request body"),
    "ERR_2002": (400, "Invalid query parameters"),
    "ERR_2003": (400, "Invalid path parameters"),
    "ERR_2004": (400, "Missing required field"),
    "ERR_3001": (404, "Resource not found"),
    "ERR_3002": (409, "Resource already exists"),
    "ERR_3003": (409, "Resource conflict"),
    "ERR_3004": (422, "Resource state invalid"),
    "ERR_4001": (400, "Insufficient credits"),
    "ERR_4002": (400, "Payout minimum not reached"),
    "ERR_4003": (400, "Notebook not published"),
    "ERR_4004": (400, "Cannot modify published notebook"),
    "ERR_4050": (405, "Method not allowed"),
    "ERR_4290": (429, "Rate limit exceeded"),
    "ERR_5001": (500, "Internal server error"),
    "ERR_5002": (503, "Service unavailable"),
    "ERR_5003": (504, "Gateway timeout"),
    "ERR_5500": (404, "Tars model not found"),
    "ERR_5501": (400, "Model not published"),
    "ERR_5502": (400, "Endpoint not active"),
    "ERR_5503": (409, "Slug already exists"),
    "ERR_5504": (400, "Invalid status transition"),
    "ERR_5505": (404, "Execution not found"),
    "ERR_5506": (403, "Execution not owned"),
    "ERR_5507": (400, "Execution not cancellable"),
    "ERR_5508": (404, "Base model not found"),
    "ERR_5509": (400, "Base model not active"),
}
DEFAULT_CODES: dict[ErrorKind, str] = {
    ErrorKind.INVALID: "ERR_2001",
    ErrorKind.UNAUTHENTICATED: "ERR_1001",
    ErrorKind.FORBIDDEN: "ERR_1003",
    ErrorKind.NOT_FOUND: "ERR_3001",
    ErrorKind.METHOD_NOT_ALLOWED: "ERR_4050",
    ErrorKind.CONFLICT: "ERR_3003",
    ErrorKind.GONE: "ERR_3001",
    ErrorKind.TOO_LARGE: "ERR_2001",  # the document's "File too large" is ERR_2001
    ErrorKind.INSUFFICIENT_FUNDS: "ERR_4001",
    ErrorKind.RATE_LIMITED: "ERR_4290",
    ErrorKind.UNAVAILABLE: "ERR_5002",
    ErrorKind.INTERNAL: "ERR_5001",
}
# Details that steer rendering and are not shown to the client.
_PRIVATE_DETAILS = ("code", "retry_after", "rate_window")


def error(code: str, message: str | None = None, **details: Any) -> AppError:
    """An AppError carrying a documented code (its kind only matters to other sites)."""
    status = CODES[code][0]
    kind = {
        400: ErrorKind.INVALID,
        401: ErrorKind.UNAUTHENTICATED,
        403: ErrorKind.FORBIDDEN,
        404: ErrorKind.NOT_FOUND,
        409: ErrorKind.CONFLICT,
        422: ErrorKind.INVALID,
        429: ErrorKind.RATE_LIMITED,
        503: ErrorKind.UNAVAILABLE,
        504: ErrorKind.UNAVAILABLE,
    }.get(status, ErrorKind.INTERNAL)
    return AppError(kind, message or CODES[code][1], {"code": code, **details})


def render_error(exc: AppError) -> flask.Response:
    code = exc.details.get("code")
    if code not in CODES:
        code = DEFAULT_CODES[exc.kind]
    status = CODES[code][0]
    body: dict[str, Any] = {"code": code, "message": exc.message}
    details = {k: v for k, v in exc.details.items() if k not in _PRIVATE_DETAILS}
    if details:
        body["details"] = details
    headers = {}
    if "retry_after" in exc.details:
        headers["Retry-After"] = str(exc.details["retry_after"])
    window = exc.details.get("rate_window")
    if isinstance(window, ratelimit.Window):
        flask.g.market_rate_window = window
    return json_response({"success": False, "error": body}, status, headers)


def ok(data: Any, status: int = 200, *, meta: dict[str, Any] | None = None) -> flask.Response:
    body: dict[str, Any] = {"success": True, "data": data}
    if meta is not None:
        body["meta"] = meta
    return json_response(body, status)


def no_content() -> flask.Response:
    return flask.Response(status=204)


# --- parsing -----------------------------------------------------------------------------


def _fields(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e.get("loc", ())) or "body", "message": e["msg"]}
        for e in exc.errors()[:20]
    ]


def body(request: flask.Request, model: type[M]) -> M:
    """The JSON body as `model`: ERR_2004 when a required field is missing, else ERR_2001."""
    try:
        return parse_body(request, model)
    except ValidationError as exc:
        missing = any(e["type"] == "missing" for e in exc.errors())
        code = "ERR_2004" if missing else "ERR_2001"
        raise error(code, fields=_fields(exc)) from None
    except AppError as exc:
        if exc.kind in (ErrorKind.INVALID, ErrorKind.TOO_LARGE):
            raise error("ERR_2001", exc.message) from None
        raise


def optional_body(request: flask.Request, model: type[M]) -> M:
    """`body` for a body the document marks optional: none at all is the model's defaults."""
    return body(request, model) if read_body(request).strip() else model()


def query(request: flask.Request, model: type[M]) -> M:
    """The query string as `model` (each parameter once): ERR_2002 on anything else."""
    raw: dict[str, str] = {}
    for name, values in request.args.lists():
        if len(values) != 1:
            raise error("ERR_2002", f"{name} must be given once")
        raw[name] = values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error("ERR_2002", fields=_fields(exc)) from None


def path_id(raw: str) -> str:
    """A record id from the path (a UUID, in canonical form): ERR_2003 otherwise."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise error("ERR_2003", "id must be a UUID") from None


SLUG = re.compile(records.SLUG_PATTERN)


def path_slug(raw: str) -> str:
    if len(raw) > records.MAX_SLUG or not SLUG.match(raw):
        raise error("ERR_2003", "slug must be lower-case letters, digits and single hyphens")
    return raw


# --- callers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    account_id: str
    email: str | None
    firebase_uid: str | None  # None when the caller used an API key
    project: str | None  # the token's Firebase project; None for an API key
    admin: bool


def _count(subject: str, limit: int) -> None:
    try:
        window = ratelimit.charge(subject=f"market:{subject}", seconds=60, limit=limit)
    except AppError as exc:
        details = {k: exc.details[k] for k in ("retry_after", "rate_window")}
        raise error("ERR_4290", **details) from None
    flask.g.market_rate_window = window


def public(request: flask.Request) -> None:
    """A public route: counted per client IP."""
    _count(f"public:{client_network(request)}", get_settings().market_rate_public)


def developer_project() -> str:
    settings = get_settings()
    return settings.market_developer_project or settings.project_id


def consumer_project() -> str:
    settings = get_settings()
    return settings.market_consumer_project or settings.project_id


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def _authenticate(request: flask.Request, projects: tuple[str, ...]) -> Caller:
    raw = identity.bearer_token(request.headers.get("Authorization"))
    if raw is None:
        raise error("ERR_1001")
    if not _looks_like_jwt(raw):
        try:
            key = identity.authenticate_key(raw)
            account = identity.get_account(key.account_id)
        except AppError as exc:
            if exc.kind is ErrorKind.FORBIDDEN:  # a worker-bound key
                raise error("ERR_1003", exc.message) from None
            raise error("ERR_1002", "Invalid or revoked API key") from None
        return Caller(account.id, account.email, None, None, account.is_admin)
    for project in projects:
        try:
            claims = identity.verify_id_token(raw, project=project)
        except AppError:
            continue
        try:
            account = identity.account_for_token(claims)
        except AppError:
            raise error("ERR_1002", "Token has no email") from None
        uid = str(claims["uid"])
        admin = bool(claims.get("admin")) or uid in get_settings().market_admin_uids
        return Caller(account.id, account.email, uid, project, admin or account.is_admin)
    raise error("ERR_1002")


def signed_in(request: flask.Request, *, projects: tuple[str, ...], auth_route: bool) -> Caller:
    """Authenticate, counting the request: a failed attempt against the caller's IP (public
    limit), a signed-in one against the account (auth-endpoint or authenticated limit)."""
    settings = get_settings()
    try:
        caller = _authenticate(request, projects)
    except AppError:
        ip = client_network(request)
        if auth_route:
            _count(f"auth:{ip}", settings.market_rate_auth)
        else:
            public(request)
        raise
    if auth_route:
        _count(f"auth:{caller.account_id}", settings.market_rate_auth)
    else:
        _count(f"user:{caller.account_id}", settings.market_rate_authenticated)
    return caller


def developer(request: flask.Request, *, auth_route: bool = False) -> Caller:
    """A caller signed in to the developer project (or with an API key). Registration is
    checked by the studio's services (ERR_1004), not here."""
    caller = signed_in(request, projects=(developer_project(),), auth_route=auth_route)
    return caller


def consumer(request: flask.Request) -> Caller:
    """A marketplace caller: a token of either project, or an API key."""
    projects = tuple(dict.fromkeys((consumer_project(), developer_project())))
    return signed_in(request, projects=projects, auth_route=False)


def admin(request: flask.Request) -> Caller:
    """Developer auth plus the admin check (custom claim, configured uid, or admin role)."""
    caller = developer(request)
    if not caller.admin:
        raise error("ERR_1003", "Admin access required")
    return caller


def studio_caller(request: flask.Request, *, auth_route: bool = False) -> Caller:
    """A developer route: a consumer-project token (when the projects differ) is refused."""
    if developer_project() != consumer_project():
        raw = identity.bearer_token(request.headers.get("Authorization")) or ""
        if _looks_like_jwt(raw):
            try:
                identity.verify_id_token(raw, project=consumer_project())
            except AppError:
                pass
            else:
                public(request)
                raise error("ERR_1003", "Consumer accounts cannot use the studio")
    return developer(request, auth_route=auth_route)


# --- the entry point ---------------------------------------------------------------------


def _rate_headers(request: flask.Request, response: flask.Response) -> None:
    window = flask.g.get("market_rate_window")
    if window is None:
        # Nothing counted this request (an unknown route, a bad method, a body too large):
        # it counts against the client's public window, as an anonymous request does.
        try:
            public(request)
        except AppError as exc:
            window = exc.details.get("rate_window")
        else:
            window = flask.g.get("market_rate_window")
    if isinstance(window, ratelimit.Window):
        response.headers["X-RateLimit-Limit"] = str(window.limit)
        response.headers["X-RateLimit-Remaining"] = str(window.remaining)
        response.headers["X-RateLimit-Reset"] = str(window.reset_epoch)


def market_entry(
    routes: list[tuple[str, str, Handler]], **options: Any
) -> Callable[[flask.Request], flask.Response]:
    """functions.http.entry_point in Tarsify's envelope, with the rate-limit headers added
    to every response."""
    handle = entry_point(routes, render_error, **options)

    def wrapped(request: flask.Request) -> flask.Response:
        flask.g.market_rate_window = None
        response = handle(request)
        _rate_headers(request, response)
        return response

    wrapped.url_map = handle.url_map  # type: ignore[attr-defined]
    return wrapped
