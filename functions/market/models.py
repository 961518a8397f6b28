"""Tarsify marketplace models: /api/marketplace/models, /api/marketplace/models/:slug, .../run.

Browsing is public (counted per client IP); each handler parses, counts, makes one call into
shared.market.marketplace, renders. `MODEL_ROUTES` holds the browsing routes; the run route
is added beside them.
"""

import flask
import functions_framework

from functions.market.site import market_entry, ok, path_slug, public, query
from shared.market import marketplace, paging, tars_views


def list_models(request: flask.Request) -> flask.Response:
    public(request)
    wanted = query(request, marketplace.MarketQuery)
    listed, total = marketplace.list_published(wanted)
    items = [tars_views.market_item(model, name) for model, name in listed]
    return ok(items, meta=paging.meta(page=wanted.page, limit=wanted.limit, total=total))


def get_model(request: flask.Request, slug: str) -> flask.Response:
    public(request)
    model, name = marketplace.published(path_slug(slug))
    return ok(tars_views.market_detail(model, name))


MODEL_ROUTES = [
    ("GET", "/api/marketplace/models", list_models),
    ("GET", "/api/marketplace/models/<slug>", get_model),
]

_handle = market_entry(MODEL_ROUTES)


@functions_framework.http
def market_models(request: flask.Request) -> flask.Response:
    return _handle(request)
