"""The doorway every HTTP function shares: route, parse, render, never leak a 500.

A function module declares its routes (method, path rule, handler) and its site's error
renderer; `entry_point` turns them into the one callable functions-framework serves.
Bad input (malformed JSON, schema violations, unknown paths) always becomes the site's
documented 4xx; only a genuine fault of ours is a 500, logged without request secrets.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import flask
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from shared.engine import logs
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings

log = logging.getLogger("relay.http")

M = TypeVar("M", bound=BaseModel)
Handler = Callable[..., flask.Response]
ErrorRenderer = Callable[[AppError], flask.Response]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> flask.Response:
    return flask.Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def parse_body(request: flask.Request, model: type[M]) -> M:
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise AppError(ErrorKind.INVALID, "Malformed JSON body") from exc
    if not isinstance(data, dict):
        raise AppError(ErrorKind.INVALID, "Request body must be a JSON object")
    return model.model_validate(data)


def parse_optional_body(request: flask.Request, model: type[M]) -> M:
    """A body the document marks optional: none at all means the model's defaults."""
    if not request.get_data(cache=True).strip():
        return model()
    return parse_body(request, model)


def validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


def entry_point(
    routes: list[tuple[str, str, Handler]] | list[tuple[str, str, Handler, ErrorRenderer]],
    render_error: ErrorRenderer,
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
    )

    def handle(request: flask.Request) -> flask.Response:
        render = render_error
        try:
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

    return logged(handle)


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
