"""Tarsify studio: /api/studio/auth/*, /api/studio/base-models, /api/studio/tars-models/*."""

import flask
import functions_framework

from functions.market.site import market_entry

_handle = market_entry([])


@functions_framework.http
def market_studio(request: flask.Request) -> flask.Response:
    return _handle(request)
