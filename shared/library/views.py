"""What the public API shows of a model: the list item, the detail, the list envelope.

Every field the document names is present (None / [] / {} when the scan found nothing), and
no internal field (path, scan, user, facets, name_lower, tags_normal, added_at) ever leaks.
User images are shown with the scanned ones: appended, in their own order, to the local
version's images (else the first version's), marked `isUserUpload: true`.
"""

from __future__ import annotations

from typing import Any

from shared.library import catalog, models_store, notes, records, user_images

STATS = ("downloadCount", "thumbsUpCount", "thumbsDownCount", "commentCount", "tippedAmountCount")
VERSION_IMAGE_FIELDS = (
    "id",
    "localPath",
    "thumbPath",
    "width",
    "height",
    "nsfwLevel",
    "prompt",
    "generationParams",
    "blurhash",
    "sortOrder",
)


def _stats(raw: Any) -> dict[str, int]:
    raw = raw if isinstance(raw, dict) else {}
    return {k: int(raw.get(k) or 0) for k in STATS}


def list_item(doc: dict[str, Any]) -> dict[str, Any]:
    item = {f: doc.get(f) for f in catalog.ITEM_FIELDS}
    item["tags"] = list(doc.get("tags") or [])
    item["stats"] = _stats(doc.get("stats"))
    item["hasMetadata"] = bool(doc.get("hasMetadata"))
    item["nsfwLevel"] = int(doc.get("nsfwLevel") or 0)
    return item


def list_page(q: catalog.ListQuery) -> dict[str, Any]:
    page = catalog.list_models(q)
    return {
        "items": [list_item(d) for d in page.items],
        "total": page.total,
        "page": q.page,
        "limit": q.limit,
        "hasMore": page.has_more,
    }


def _user_image(rendered: dict[str, Any]) -> dict[str, Any]:
    shown = {f: rendered.get(f) for f in VERSION_IMAGE_FIELDS}
    return {**shown, "isUserUpload": True}


def _versions(doc: dict[str, Any], uploads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    versions = [dict(v) for v in doc.get("versions") or []]
    for version in versions:
        version["images"] = [
            {**i, "isUserUpload": bool(i.get("isUserUpload"))} for i in version.get("images") or []
        ]
    if uploads and versions:
        local = next((v for v in versions if v.get("isLocal")), versions[0])
        local["images"] = local["images"] + [_user_image(u) for u in uploads]
    return versions


def detail(model_id: int) -> dict[str, Any]:
    """GET /api/v1/models/:id (NOT_FOUND when there is no such model)."""
    doc = models_store.get(model_id)
    item = list_item(doc)
    item.pop("heroImage")
    return {
        **item,
        "description": doc.get("description"),
        "filePath": f"/{records.models_root()}/{doc['path']}",
        "fileSize": doc.get("fileSize"),
        "trainedWords": list(doc.get("trainedWords") or []),
        "licensingInfo": doc.get("licensingInfo") or {},
        "heroImage": doc.get("heroImage"),
        "notes": notes.get(model_id),
        "versions": _versions(doc, user_images.list_for(model_id)),
    }
