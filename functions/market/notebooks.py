"""Tarsify notebooks (deprecated): /api/studio/notebooks/*, /api/marketplace/notebooks/*."""

import flask
import functions_framework

from functions.market.site import market_entry

_handle = market_entry([])


@functions_framework.http
def market_notebooks(request: flask.Request) -> flask.Response:
    return _handle(request)
