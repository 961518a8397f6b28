"""Killa Tamata: /api/v1/health and /api/v1/packages."""

import flask
import functions_framework

from functions.http import entry_point, json_response
from functions.media.site import render_error
from shared.media import health, packages


def get_health(request: flask.Request) -> flask.Response:
    return json_response(health.payload())


def list_packages(request: flask.Request) -> flask.Response:
    return json_response({"packages": [p.public() for p in packages.PACKAGES]})


_handle = entry_point(
    [("GET", "/api/v1/health", get_health), ("GET", "/api/v1/packages", list_packages)],
    render_error,
)


@functions_framework.http
def media_catalog(request: flask.Request) -> flask.Response:
    return _handle(request)
