"""Images users upload for a model: `library_images/<imageId>`, the file under
`uploads/<modelId>/`, its WebP thumbnail under `thumbs/`. Kept apart from the scanned
record, so rescans never touch them.

Document fields: id (int), modelId (int), object, thumb (object names), width, height,
nsfwLevel (0-3), prompt, generationParams (JSON text, shared/library/image_params.py),
sortOrder (int), createdAt (datetime).

- An upload is checked whole (size, content, every field) before its first write; if a
  later write fails, what was written is deleted, so a refused upload leaves nothing.
- An image belongs to one model: addressed through another model it is not found.
- Deleting removes the file and the thumbnail before the document, so a failure part-way
  leaves a document to delete again, never a file nothing points to.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any

from google.api_core.exceptions import NotFound
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.library import models_store, storage, thumbs
from shared.library.image_params import ImagePatch, UploadFields, stored_params
from shared.library.records import IMAGES, derive_id, file_url

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the document's "max 50MB"


def _params(stored: Any) -> dict[str, Any]:
    if isinstance(stored, str):
        return dict(json.loads(stored))
    return dict(stored or {})


def render(doc: dict[str, Any]) -> dict[str, Any]:
    """The document's image object (GET /api/models/:id/images)."""
    return {
        "id": doc["id"],
        "modelId": doc["modelId"],
        "localPath": file_url(doc["object"]),
        "thumbPath": file_url(doc["thumb"]),
        "width": doc["width"],
        "height": doc["height"],
        "nsfwLevel": doc.get("nsfwLevel", 0),
        "prompt": doc.get("prompt"),
        "generationParams": _params(doc.get("generationParams")),
        "sortOrder": doc.get("sortOrder", 0),
        "createdAt": doc["createdAt"].isoformat().replace("+00:00", "Z"),
    }


def list_docs(model_id: int) -> list[dict[str, Any]]:
    """The model's uploaded images in sortOrder, then upload order."""
    snaps = db().collection(IMAGES).where(filter=FieldFilter("modelId", "==", model_id)).stream()
    docs = [s.to_dict() for s in snaps]
    return sorted(docs, key=lambda d: (d.get("sortOrder", 0), d["createdAt"], d["id"]))


def list_for(model_id: int) -> list[dict[str, Any]]:
    return [render(d) for d in list_docs(model_id)]


def images_of(*, model_id: int) -> list[dict[str, Any]]:
    """The model's uploaded images (rendered); NOT_FOUND when there is no such model."""
    models_store.get(model_id)
    return list_for(model_id)


def _not_found() -> AppError:
    return AppError(ErrorKind.NOT_FOUND, "Image not found")


def _ref(image_id: int) -> Any:
    return db().collection(IMAGES).document(str(image_id))


def _owned(snap: Any, model_id: int) -> dict[str, Any]:
    if not snap.exists or snap.get("modelId") != model_id:
        raise _not_found()
    return dict(snap.to_dict())


def create(*, model_id: int, data: bytes, fields: UploadFields) -> dict[str, Any]:
    """Store an uploaded image of the model: the file, its thumbnail and its document."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise AppError(ErrorKind.TOO_LARGE, "Image is larger than 50 MB")
    models_store.get(model_id)
    picture = thumbs.inspect(data)
    params = stored_params(fields.generationParams)
    token = secrets.token_hex(12)
    existing = list_docs(model_id)
    doc: dict[str, Any] = {
        "id": derive_id("upload", token),
        "modelId": model_id,
        "object": f"{storage.UPLOADS}/{model_id}/{token}.{picture.extension}",
        "thumb": f"{storage.THUMBS}/upload_{model_id}_{token}.webp",
        "width": picture.width,
        "height": picture.height,
        "blurhash": picture.blurhash,
        "nsfwLevel": fields.nsfwLevel,
        "prompt": fields.prompt,
        "generationParams": params,
        "sortOrder": max((d.get("sortOrder", 0) for d in existing), default=-1) + 1,
        "createdAt": clock.now(),
    }
    written: list[str] = []
    try:
        for name, content, kind in (
            (doc["object"], data, picture.content_type),
            (doc["thumb"], picture.thumb_webp, "image/webp"),
        ):
            storage.bucket().blob(name).upload_from_string(content, content_type=kind)
            written.append(name)
        _ref(doc["id"]).create(doc)
    except BaseException:
        _delete_objects(written)
        raise
    return render(doc)


def update(*, model_id: int, image_id: int, patch: ImagePatch) -> dict[str, Any]:
    """Apply the given fields of `patch` (generationParams is replaced whole)."""
    changes: dict[str, Any] = {
        k: getattr(patch, k)
        for k in ("prompt", "nsfwLevel", "sortOrder")
        if getattr(patch, k) is not None
    }
    if patch.generationParams is not None:
        changes["generationParams"] = stored_params(patch.generationParams)

    @firestore.transactional
    def run(tx: Any) -> dict[str, Any]:
        doc = _owned(_ref(image_id).get(transaction=tx), model_id)
        if changes:
            tx.update(_ref(image_id), changes)
        return {**doc, **changes}

    return render(run(db().transaction()))


def delete(*, model_id: int, image_id: int) -> None:
    """Delete the image's file, thumbnail and document."""
    doc = _owned(_ref(image_id).get(), model_id)
    _delete_objects([doc["object"], doc["thumb"]])
    _ref(image_id).delete()


def _delete_objects(names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(NotFound):
            storage.bucket().blob(name).delete()
