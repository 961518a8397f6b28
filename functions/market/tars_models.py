"""Tarsify studio tars models: /api/studio/tars-models and /api/studio/tars-models/:id[/...].

Routes only (the lead mounts `TARS_ROUTES` in functions/market/studio.py): each handler
parses, authorizes a developer, makes one call into shared.market.tars_models, renders.
"""

import flask

from functions.market.site import body, no_content, ok, path_id, query, studio_caller
from shared.market import paging, tars_views
from shared.market import tars_models as tars
from shared.market.records import TarsStatus

BASE = "/api/studio/tars-models"


def create_tars_model(request: flask.Request) -> flask.Response:
    caller = studio_caller(request)
    model = tars.create(account_id=caller.account_id, request=body(request, tars.TarsCreate))
    return ok(tars_views.studio_detail(model), 201)


def list_tars_models(request: flask.Request) -> flask.Response:
    caller = studio_caller(request)
    wanted = query(request, tars.TarsListQuery)
    models, total = tars.list_own(account_id=caller.account_id, query=wanted)
    meta = paging.meta(page=wanted.page, limit=wanted.limit, total=total)
    meta["pages"] = meta["totalPages"]  # the document's tars list names it `pages`
    return ok([tars_views.studio_item(m) for m in models], meta=meta)


def get_tars_model(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    model = tars.read_own(account_id=caller.account_id, model_id=path_id(item_id))
    return ok(tars_views.studio_detail(model))


def update_tars_model(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    model_id = path_id(item_id)
    changes = body(request, tars.TarsUpdate)
    model = tars.update(account_id=caller.account_id, model_id=model_id, request=changes)
    return ok(tars_views.studio_detail(model))


def delete_tars_model(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    tars.delete(account_id=caller.account_id, model_id=path_id(item_id))
    return no_content()


def publish_tars_model(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    model_id = path_id(item_id)
    model = tars.move(account_id=caller.account_id, model_id=model_id, to=TarsStatus.PUBLISHED)
    return ok(tars_views.status_change(model))


def archive_tars_model(request: flask.Request, item_id: str) -> flask.Response:
    caller = studio_caller(request)
    model_id = path_id(item_id)
    model = tars.move(account_id=caller.account_id, model_id=model_id, to=TarsStatus.ARCHIVED)
    return ok(tars_views.status_change(model))


TARS_ROUTES = [
    ("POST", BASE, create_tars_model),
    ("GET", BASE, list_tars_models),
    ("GET", f"{BASE}/<item_id>", get_tars_model),
    ("PUT", f"{BASE}/<item_id>", update_tars_model),
    ("DELETE", f"{BASE}/<item_id>", delete_tars_model),
    ("POST", f"{BASE}/<item_id>/publish", publish_tars_model),
    ("POST", f"{BASE}/<item_id>/archive", archive_tars_model),
]
