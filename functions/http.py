"""The doorway every HTTP function shares: route, parse, render, never leak a 500.

A function module declares its routes (method, path rule, handler) and its site's error
renderer; `entry_point` turns them into the one callable functions-framework serves.
Bad input (malformed JSON, schema violations, unknown paths) always becomes the site's
documented 4xx; only a genuine fault of ours is a 500, logged without request secrets.
Every body is read here under one size limit (413 past it, before anything is decoded), and
every JSON body is decoded by `validate.loads_json`, which refuses hostile nesting before a
recursive decoder sees it. Integer path parameters are ASCII digits within int64. The
interpreter's recursion limit is held at Python's default, so recursion a hostile input still
reaches ends in RecursionError, never in a thread's stack overflowing (a segfault).
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import flask
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.routing.converters import BaseConverter
from werkzeug.routing.converters import ValidationError as RouteMismatch

from shared.engine import clientnet, logs, validate
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings

log = logging.getLogger("relay.http")

M = TypeVar("M", bound=BaseModel)
Handler = Callable[..., flask.Response]
ErrorRenderer = Callable[[AppError], flask.Response]

MAX_BODY_BYTES = 1 << 20  # every request body, unless a route group documents more
# py_ecc (imported by x402's EVM scheme) raises the process's recursion limit to 100,000 on
# import; that deep, C recursion (the JSON decoder's) overflows an 8 MiB thread stack.
RECURSION_LIMIT = 1_000


class StrictIntConverter(BaseConverter):
    """`<int:...>` as ASCII digits within int64 (Werkzeug's own takes any Unicode digit and
    any size); anything else does not match, so the route answers 404."""

    regex = r"[0-9]{1,19}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = validate.strict_int(value)
        if number is None:
            raise RouteMismatch()
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> flask.Response:
    return flask.Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def client_ip(request: flask.Request) -> str:
    """The caller's address: the X-Forwarded-For entry left of the hops our own proxies
    appended (`trusted_proxy_hops`; Firebase Hosting appends the client, then its own hop)."""
    return clientnet.client_address(
        request.headers.get("X-Forwarded-For", ""),
        request.remote_addr,
        trusted_hops=get_settings().trusted_proxy_hops,
    )


def client_network(request: flask.Request) -> str:
    """The caller's network as per-IP limits count it (IPv4 address, IPv6 /64)."""
    return clientnet.network(client_ip(request))


def read_body(request: flask.Request) -> bytes:
    """The raw body, read once under the entry point's size limit (TOO_LARGE past it)."""
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _too_large(request) from None


def _too_large(request: flask.Request) -> AppError:
    # The body is abandoned: functions-framework reads it again after the response (so the
    # server can close cleanly), which must find it empty rather than raise a bare 500.
    request.stream = io.BytesIO()
    return AppError(ErrorKind.TOO_LARGE, "Request body is too large")


def parse_json(request: flask.Request) -> Any:
    """The body as JSON (None when empty), depth-checked before it is decoded."""
    raw = read_body(request)
    return validate.loads_json(raw) if raw.strip() else None


def parse_body(request: flask.Request, model: type[M]) -> M:
    data = parse_json(request)
    if not isinstance(data, dict):
        raise AppError(ErrorKind.INVALID, "Request body must be a JSON object")
    return model.model_validate(data)


def parse_optional_body(request: flask.Request, model: type[M]) -> M:
    """A body the document marks optional: none at all means the model's defaults."""
    if not read_body(request).strip():
        return model()
    return parse_body(request, model)


def validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


def entry_point(
    routes: list[tuple[str, str, Handler]] | list[tuple[str, str, Handler, ErrorRenderer]],
    render_error: ErrorRenderer,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Callable[[flask.Request], flask.Response]:
    """One callable for a route group. A route may carry its own error renderer (where a
    document gives one operation a different error shape)."""
    url_map = Map(
        [
            Rule(
                route[1],
                methods=[route[0]],
                endpoint=(route[2], route[3] if len(route) > 3 else render_error),
            )
            for route in routes
        ],
        strict_slashes=False,
        # A doubled slash is no route (Werkzeug would answer it with a redirect exception).
        merge_slashes=False,
        converters={"int": StrictIntConverter},
    )

    def handle(request: flask.Request) -> flask.Response:
        render = render_error
        if sys.getrecursionlimit() > RECURSION_LIMIT:
            sys.setrecursionlimit(RECURSION_LIMIT)
        # Before anything touches request.stream: Werkzeug applies the limit when it opens it.
        request.max_content_length = max_body_bytes
        try:
            # Size first, for every request: the whole body is read (and cached) under the
            # limit before routing, so no handler and no framework hook reads past it.
            read_body(request)
            (fn, render), params = url_map.bind_to_environ(request.environ).match()
            return fn(request, **params)
        except NotFound:
            return render(AppError(ErrorKind.NOT_FOUND, "Not found"))
        except MethodNotAllowed:
            return render(AppError(ErrorKind.METHOD_NOT_ALLOWED, "Method not allowed"))
        except AppError as exc:
            return render(exc)
        except ValidationError as exc:
            return render(AppError(ErrorKind.INVALID, validation_message(exc)))
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return render(AppError(ErrorKind.INTERNAL, "Internal error"))

    observed = logged(handle)
    observed.url_map = url_map  # type: ignore[attr-defined]  # read by the hostile-input tests
    return observed


def logged(
    handle: Callable[[flask.Request], flask.Response],
) -> Callable[[flask.Request], flask.Response]:
    """One log line per request, in the request's trace, and its id in `X-Request-Id`. The
    line names method, path (never the query), status and latency: no headers, no body."""

    def observed(request: flask.Request) -> flask.Response:
        started = time.monotonic()
        with logs.request_context(request.headers, project=get_settings().project_id) as rid:
            response = handle(request)
            latency_ms = round((time.monotonic() - started) * 1000, 1)
            response.headers[logs.REQUEST_ID_HEADER] = rid
            severity = logging.ERROR if response.status_code >= 500 else logging.INFO
            log.log(
                severity,
                "%s %s %s",
                request.method,
                request.script_root + request.path,
                response.status_code,
                extra={
                    "fields": {
                        "method": request.method,
                        "path": request.script_root + request.path,
                        "status": response.status_code,
                        "latency_ms": latency_ms,
                        "httpRequest": {
                            "requestMethod": request.method,
                            "requestUrl": request.script_root + request.path,
                            "status": response.status_code,
                            "latency": f"{latency_ms / 1000:.4f}s",
                        },
                    }
                },
            )
        return response

    return observed
