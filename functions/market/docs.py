"""Tarsify's OpenAPI document as Relay serves it."""

import flask
import functions_framework

from functions.market.site import market_entry

_handle = market_entry([])


@functions_framework.http
def market_docs(request: flask.Request) -> flask.Response:
    return _handle(request)
