"""Tarsify studio: /api/studio/auth/*, /api/studio/base-models, /api/studio/tars-models/*."""

import flask
import functions_framework

from functions.market.site import body, market_entry, ok, query, studio_caller
from functions.market.tars_models import TARS_ROUTES
from shared.market import catalog, developers
from shared.market.catalog_models import BaseModelFilter

# --- auth ----------------------------------------------------------------------------------


def register(request: flask.Request) -> flask.Response:
    caller = studio_caller(request, auth_route=True)
    payload = body(request, developers.DeveloperCreate)
    developer = developers.register(
        account_id=caller.account_id,
        account_email=caller.email,
        firebase_uid=caller.firebase_uid,
        request=payload,
    )
    return ok(developers.render(developer), 201)


def me(request: flask.Request) -> flask.Response:
    caller = studio_caller(request, auth_route=True)
    return ok(developers.me(caller.account_id))


def update_profile(request: flask.Request) -> flask.Response:
    caller = studio_caller(request, auth_route=True)
    payload = body(request, developers.ProfileUpdate)
    developer = developers.update_profile(account_id=caller.account_id, request=payload)
    return ok(developers.render_profile(developer))


def complete_profile(request: flask.Request) -> flask.Response:
    caller = studio_caller(request, auth_route=True)
    payload = body(request, developers.ProfileCompletion)
    developer = developers.complete_profile(account_id=caller.account_id, request=payload)
    return ok(developers.render_completion(developer))


AUTH_ROUTES = [
    ("POST", "/api/studio/auth/register", register),
    ("GET", "/api/studio/auth/me", me),
    ("PUT", "/api/studio/auth/profile", update_profile),
    ("POST", "/api/studio/auth/complete-profile", complete_profile),
]

# --- base models -------------------------------------------------------------------------


def list_base_models(request: flask.Request) -> flask.Response:
    caller = studio_caller(request)
    filters = query(request, BaseModelFilter)
    return ok(catalog.studio_base_models(account_id=caller.account_id, category=filters.category))


BASE_MODEL_ROUTES = [
    ("GET", "/api/studio/base-models", list_base_models),
]

_handle = market_entry(AUTH_ROUTES + BASE_MODEL_ROUTES + TARS_ROUTES)


@functions_framework.http
def market_studio(request: flask.Request) -> flask.Response:
    return _handle(request)
