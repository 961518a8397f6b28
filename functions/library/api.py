"""Model Manager's public API: /api/v1/models, /api/v1/models/:id, /api/v1/models/:id/download,
/api/v1/auth/regenerate. Each handler authorizes, makes one service call, renders."""

import flask
import functions_framework

from functions.http import entry_point
from functions.library import site
from functions.library.site import render_error
from shared.library import keys

ROUTES: list = []


def regenerate_key(request: flask.Request) -> flask.Response:
    site.api_caller(request)
    return site.ok({"key": keys.regenerate(), "message": keys.REGENERATED_MESSAGE})


ROUTES += [("POST", "/api/v1/auth/regenerate", regenerate_key)]

_api = entry_point(ROUTES, render_error)


@functions_framework.http
def library_api(request: flask.Request) -> flask.Response:
    return _api(request)
