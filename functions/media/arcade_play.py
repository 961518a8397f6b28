"""Killa Tamata: /arcade/play/<token>/<path> serves a launched release's files (rules in
shared/media/arcade/serving.py): GET only, no credentials but the signed token in the path."""

from __future__ import annotations

import flask
import functions_framework

from functions.http import entry_point
from functions.media.site import render_error
from shared.media.arcade import serving


def play(request: flask.Request, token: str, path: str) -> flask.Response:
    served = serving.play_file(token=token, path=path)
    return flask.Response(served.data, status=200, headers=served.headers)


_handle = entry_point(
    [
        ("GET", "/arcade/play/<token>/<path:path>", play),
    ],
    render_error,
    max_body_bytes=0,
)


@functions_framework.http
def media_arcade_play(request: flask.Request) -> flask.Response:
    return _handle(request)
