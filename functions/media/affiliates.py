"""Placeholder: Killa Tamata /api/v1/affiliates/** (being written)."""

import flask
import functions_framework

from functions.http import entry_point
from functions.media.site import render_error

_handle = entry_point([], render_error)


@functions_framework.http
def media_affiliates(request: flask.Request) -> flask.Response:
    return _handle(request)
