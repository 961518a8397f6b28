"""Model Manager's internal routes (the web UI's): PATCH /api/models/:id and the user
images of a model. Session cookie or key (functions/library/site.py ui_caller)."""

import flask
import functions_framework

from functions.http import entry_point
from functions.library import multipart, site
from functions.library.site import render_error
from shared.library import image_params, model_edits, user_images

MODEL = "/api/models/<raw_id>"
IMAGE = "/api/models/<raw_id>/images/<raw_image_id>"


def update_model(request: flask.Request, raw_id: str) -> flask.Response:
    site.ui_caller(request)
    model_id = site.model_id(raw_id)
    patch = site.body(request, model_edits.ModelPatch)
    return site.ok(model_edits.apply(model_id=model_id, patch=patch))


def list_images(request: flask.Request, raw_id: str) -> flask.Response:
    site.ui_caller(request)
    return site.ok(user_images.images_of(model_id=site.model_id(raw_id)))


def upload_image(request: flask.Request, raw_id: str) -> flask.Response:
    site.ui_caller(request)
    model_id = site.model_id(raw_id)
    data, form = multipart.upload(request)
    fields = image_params.upload_fields(form)
    return site.ok(user_images.create(model_id=model_id, data=data, fields=fields), 201)


def update_image(request: flask.Request, raw_id: str, raw_image_id: str) -> flask.Response:
    site.ui_caller(request)
    model_id, image_id = site.model_id(raw_id), site.image_id(raw_image_id)
    patch = site.body(request, image_params.ImagePatch)
    return site.ok(user_images.update(model_id=model_id, image_id=image_id, patch=patch))


def delete_image(request: flask.Request, raw_id: str, raw_image_id: str) -> flask.Response:
    site.ui_caller(request)
    model_id, image_id = site.model_id(raw_id), site.image_id(raw_image_id)
    user_images.delete(model_id=model_id, image_id=image_id)
    return site.ok({"success": True})


ROUTES: list = [
    ("PATCH", MODEL, update_model),
    ("GET", f"{MODEL}/images", list_images),
    ("POST", f"{MODEL}/images", upload_image),
    ("PATCH", IMAGE, update_image),
    ("DELETE", IMAGE, delete_image),
]

_internal = entry_point(ROUTES, render_error, max_body_bytes=multipart.MAX_BODY_BYTES)


@functions_framework.http
def library_internal(request: flask.Request) -> flask.Response:
    return _internal(request)
