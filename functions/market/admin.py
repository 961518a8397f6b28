"""Tarsify admin: /api/admin/endpoints/*, /api/admin/base-models/*."""

import flask
import functions_framework

from functions.market.site import admin, body, market_entry, no_content, ok, path_id
from shared.market import catalog, catalog_models
from shared.market.catalog_models import render_endpoint

# --- endpoints ---------------------------------------------------------------------------


def list_endpoints(request: flask.Request) -> flask.Response:
    admin(request)
    return ok([render_endpoint(e) for e in catalog.list_endpoints()])


def create_endpoint(request: flask.Request) -> flask.Response:
    admin(request)
    payload = body(request, catalog_models.EndpointCreate)
    return ok(render_endpoint(catalog.create_endpoint(request=payload)), 201)


def update_endpoint(request: flask.Request, item_id: str) -> flask.Response:
    admin(request)
    endpoint_id = path_id(item_id)
    payload = body(request, catalog_models.EndpointUpdate)
    endpoint = catalog.update_endpoint(endpoint_id=endpoint_id, request=payload)
    return ok(render_endpoint(endpoint))


def delete_endpoint(request: flask.Request, item_id: str) -> flask.Response:
    admin(request)
    catalog.delete_endpoint(endpoint_id=path_id(item_id))
    return no_content()


# --- base models -------------------------------------------------------------------------


def list_base_models(request: flask.Request) -> flask.Response:
    admin(request)
    return ok(catalog.admin_base_models())


def create_base_model(request: flask.Request) -> flask.Response:
    admin(request)
    payload = body(request, catalog_models.BaseModelCreate)
    base = catalog.create_base_model(request=payload)
    return ok(catalog.render_admin(base), 201)


def update_base_model(request: flask.Request, item_id: str) -> flask.Response:
    admin(request)
    base_model_id = path_id(item_id)
    payload = body(request, catalog_models.BaseModelUpdate)
    base = catalog.update_base_model(base_model_id=base_model_id, request=payload)
    return ok(catalog.render_admin(base))


def delete_base_model(request: flask.Request, item_id: str) -> flask.Response:
    admin(request)
    catalog.delete_base_model(base_model_id=path_id(item_id))
    return no_content()


_handle = market_entry(
    [
        ("GET", "/api/admin/endpoints", list_endpoints),
        ("POST", "/api/admin/endpoints", create_endpoint),
        ("PUT", "/api/admin/endpoints/<item_id>", update_endpoint),
        ("DELETE", "/api/admin/endpoints/<item_id>", delete_endpoint),
        ("GET", "/api/admin/base-models", list_base_models),
        ("POST", "/api/admin/base-models", create_base_model),
        ("PUT", "/api/admin/base-models/<item_id>", update_base_model),
        ("DELETE", "/api/admin/base-models/<item_id>", delete_base_model),
    ]
)


@functions_framework.http
def market_admin(request: flask.Request) -> flask.Response:
    return _handle(request)
