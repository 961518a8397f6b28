"""Images users upload for a model: `library_images/<imageId>`, the file under
`uploads/<modelId>/`, its WebP thumbnail under `thumbs/`. Kept apart from the scanned
record, so rescans never touch them.

Document fields: id (int), modelId (int), object, thumb (object names), width, height,
nsfwLevel (0-3), prompt, generationParams (dict), sortOrder (int), createdAt (datetime).
"""

from __future__ import annotations

from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine.store import db
from shared.library.records import IMAGES, file_url


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
        "generationParams": doc.get("generationParams") or {},
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
