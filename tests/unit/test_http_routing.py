"""The shared doorway's routing: any path either routes or answers the site's 404, never a
framework exception turned 500."""

from __future__ import annotations

import json

import flask
import pytest

from functions.http import entry_point, json_response
from functions.pics.site import render_error


def _confirm(request: flask.Request, blob_id: int) -> flask.Response:
    return json_response({"blob": blob_id})


HANDLE = entry_point([("POST", "/api/v1/blobs/<int:blob_id>/confirm", _confirm)], render_error)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/blobs/0%2F/confirm", "/api/v1/blobs/0//confirm", "//api/v1/blobs/0/confirm"],
)
def test_a_doubled_slash_is_not_found_not_a_redirect(path: str) -> None:
    app = flask.Flask(__name__)
    with app.test_request_context(path, method="POST", data=b"{}"):
        response = HANDLE(flask.request)
    assert response.status_code == 404, response.get_data()
    assert json.loads(response.get_data())["code"] == "NOT_FOUND"


def test_the_route_itself_and_a_trailing_slash_still_route() -> None:
    app = flask.Flask(__name__)
    for path in ("/api/v1/blobs/7/confirm", "/api/v1/blobs/7/confirm/"):
        with app.test_request_context(path, method="POST", data=b"{}"):
            response = HANDLE(flask.request)
        assert (response.status_code, json.loads(response.get_data())) == (200, {"blob": 7})
