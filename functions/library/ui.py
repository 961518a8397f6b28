"""Model Manager's web UI: the pages at / and the session sign-in."""

import flask
import functions_framework

from functions.http import entry_point
from functions.library.site import render_error

ROUTES: list = []

_ui = entry_point(ROUTES, render_error)


@functions_framework.http
def library_ui(request: flask.Request) -> flask.Response:
    return _ui(request)
