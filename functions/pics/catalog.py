"""PicShapes: /api/v1/tiers and /api/v1/models (public)."""

import flask
import functions_framework

from functions.http import entry_point, json_response
from functions.pics.site import render_error
from shared.pics import service as pics


def list_tiers(request: flask.Request) -> flask.Response:
    return json_response({"tiers": pics.tiers()})


def list_models(request: flask.Request) -> flask.Response:
    return json_response(pics.models())


_handle = entry_point(
    [
        ("GET", "/api/v1/tiers", list_tiers),
        ("GET", "/api/v1/models", list_models),
    ],
    render_error,
)


@functions_framework.http
def pics_catalog(request: flask.Request) -> flask.Response:
    return _handle(request)
