"""Tarsify marketplace models: /api/marketplace/models, /api/marketplace/models/:slug, .../run."""

import flask
import functions_framework

from functions.market.run_model import RUN_ROUTES
from functions.market.site import market_entry

_handle = market_entry([*RUN_ROUTES])


@functions_framework.http
def market_models(request: flask.Request) -> flask.Response:
    return _handle(request)
