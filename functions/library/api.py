"""Model Manager's public API: /api/v1/models, /api/v1/models/:id, /api/v1/models/:id/download,
/api/v1/auth/regenerate. Each handler authorizes (bearer key first: 401 before anything else),
parses, makes one service call, renders. Any other path this function serves (the /api/**
catch-all included) answers entry_point's 404 {error}."""

import flask
import functions_framework

from functions.http import entry_point, json_response
from functions.library import site
from functions.library.site import render_error
from shared.library import downloads, keys, views
from shared.library.catalog import ListQuery


def list_models(request: flask.Request) -> flask.Response:
    site.api_caller(request)
    query = ListQuery.from_args(request.args.items(multi=True))
    return site.ok(views.list_page(query))


def get_model(request: flask.Request, raw_id: str) -> flask.Response:
    site.api_caller(request)
    model_id = site.model_id(raw_id)
    return site.ok(views.detail(model_id))


def download_model(request: flask.Request, raw_id: str) -> flask.Response:
    site.api_caller(request)
    model_id = site.model_id(raw_id)
    found = downloads.open_download(model_id=model_id, range_header=request.headers.get("Range"))
    if found.error is not None:
        return json_response({"error": found.error}, found.status, found.headers)
    return flask.Response(found.chunks, status=found.status, headers=found.headers)


ROUTES: list = [
    ("GET", "/api/v1/models", list_models),
    ("GET", "/api/v1/models/<raw_id>", get_model),
    ("GET", "/api/v1/models/<raw_id>/download", download_model),
]


def regenerate_key(request: flask.Request) -> flask.Response:
    site.api_caller(request)
    return site.ok({"key": keys.regenerate(), "message": keys.REGENERATED_MESSAGE})


ROUTES += [("POST", "/api/v1/auth/regenerate", regenerate_key)]

_api = entry_point(ROUTES, render_error)


@functions_framework.http
def library_api(request: flask.Request) -> flask.Response:
    return _api(request)
