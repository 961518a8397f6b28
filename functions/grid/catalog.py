"""Vibe Earning: /api/v1/models, /api/v1/usage and /api/v1/blobs."""

import flask
import functions_framework

from functions.grid.site import authenticate, render_error
from functions.http import entry_point, json_response, parse_json
from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.grid import blobs, usage, views, workers


def list_models(request: flask.Request) -> flask.Response:
    authenticate(request)
    return json_response(views.catalog(workers.catalog(clock.now())))


def get_usage(request: flask.Request) -> flask.Response:
    key, _ = authenticate(request)
    period = request.args.get("period", "daily")
    if period not in usage.PERIOD_DAYS:
        raise AppError(ErrorKind.INVALID, "period must be daily, weekly or monthly")
    used = usage.usage(account_id=key.account_id, period=period, tag=request.args.get("tag"))
    return json_response(views.usage(used))


def create_blob(request: flask.Request) -> flask.Response:
    key, _ = authenticate(request)
    raw = parse_json(request)
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise AppError(ErrorKind.INVALID, "body must be a JSON object")
    body = views.BlobCreate.model_validate(raw)
    created = blobs.create(
        account_id=key.account_id, blob_type=body.blob_type, size_bytes=body.size_bytes
    )
    return json_response(created, 201)


def confirm_blob(request: flask.Request, blob_id: int) -> flask.Response:
    key, _ = authenticate(request)
    blobs.confirm(account_id=key.account_id, blob_id=blob_id)
    return json_response({"status": "confirmed"})


_handle = entry_point(
    [
        ("GET", "/api/v1/models", list_models),
        ("GET", "/api/v1/usage", get_usage),
        ("POST", "/api/v1/blobs", create_blob),
        ("POST", "/api/v1/blobs/<int:blob_id>/confirm", confirm_blob),
    ],
    render_error,
)


@functions_framework.http
def grid_catalog(request: flask.Request) -> flask.Response:
    return _handle(request)
