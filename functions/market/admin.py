"""Tarsify admin: /api/admin/endpoints/*, /api/admin/base-models/*."""

import flask
import functions_framework

from functions.market.site import market_entry

_handle = market_entry([])


@functions_framework.http
def market_admin(request: flask.Request) -> flask.Response:
    return _handle(request)
