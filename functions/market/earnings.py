"""Tarsify studio money: /api/studio/analytics/*, /api/studio/earnings/*, /api/studio/payouts/*."""

import flask
import functions_framework

from functions.market.site import market_entry

_handle = market_entry([])


@functions_framework.http
def market_earnings(request: flask.Request) -> flask.Response:
    return _handle(request)
