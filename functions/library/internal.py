"""Model Manager's internal routes (the web UI's): PATCH /api/models/:id and the user
images of a model. Session cookie or key (functions/library/site.py ui_caller)."""

import flask
import functions_framework

from functions.http import entry_point
from functions.library.site import render_error

ROUTES: list = []

_internal = entry_point(ROUTES, render_error)


@functions_framework.http
def library_internal(request: flask.Request) -> flask.Response:
    return _internal(request)
