"""The `scan` dict of one model file, from what was read about it (pure: no I/O).

Precedence, field by field: the sidecars (Civitai's word) over the file's own metadata
(`__metadata__`: modelspec.title, ss_base_model_version) over what the path says (file stem,
folder category). Ids are Civitai's where a sidecar gives one below 2**52, else derived
from the path, so they are stable across rescans. The local version (isLocal) holds the
file itself and the preview images; the model JSON's other versions are listed with their
files and no images (nothing is downloaded).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from shared.library import records, safetensors_header
from shared.library.safetensors_header import Header
from shared.library.sidecars import CivitaiVersion, Facts, nsfw_level, stats


@dataclass(frozen=True)
class Preview:
    """A preview image found next to the model file, already thumbnailed."""

    id: int
    object: str  # full object name of the image
    thumb: str  # full object name of its WebP thumbnail
    width: int
    height: int
    blurhash: str


def _id(value: int | None, *parts: str) -> int:
    if isinstance(value, int) and 0 < value <= records.MAX_ID:
        return value
    return records.derive_id(*parts)


def folders(path: str) -> tuple[str | None, str | None]:
    """(category, subcategory): the first and second folder of `path` under the root."""
    parts = path.split("/")[:-1]
    return (parts[0] if parts else None), (parts[1] if len(parts) > 1 else None)


def _images(previews: list[Preview], local: CivitaiVersion | None) -> list[dict[str, Any]]:
    """The previews, the n-th carrying the generation facts of the sidecar's n-th image."""
    described = local.images if local else []
    out = []
    for order, preview in enumerate(previews):
        facts = described[order] if order < len(described) else None
        meta = (facts.meta if facts else None) or {}
        prompt = meta.get("prompt")
        out.append(
            {
                "id": preview.id,
                "localPath": records.file_url(preview.object),
                "thumbPath": records.file_url(preview.thumb),
                "width": preview.width,
                "height": preview.height,
                "nsfwLevel": nsfw_level(facts.nsfwLevel if facts else 0),
                "prompt": prompt if isinstance(prompt, str) else None,
                "generationParams": meta,
                "blurhash": preview.blurhash,
                "sortOrder": order,
                "isUserUpload": False,
            }
        )
    return out


def _version(
    version: CivitaiVersion | None,
    *,
    path: str,
    is_local: bool,
    files: list[dict[str, Any]],
    images: list[dict[str, Any]],
    base_model: str | None,
    trained_words: list[str],
) -> dict[str, Any]:
    return {
        "id": _id(version.id if version else None, "version", path, str(version and version.name)),
        "name": (version.name if version else None) or ("local" if is_local else None),
        "baseModel": (version.baseModel if version else None) or base_model,
        "description": version.description if version else None,
        "stats": stats(version.stats) if version and version.stats else {},
        "publishedAt": version.publishedAt if version else None,
        "trainedWords": list(version.trainedWords) if version else trained_words,
        "isLocal": is_local,
        "files": files,
        "images": images,
    }


def build(
    *,
    path: str,
    size: int,
    header: Header | None,
    facts: Facts | None,
    previews: list[Preview],
    fingerprint: str,
) -> dict[str, Any]:
    """The scan's facts about the model file at `path` (relative to the models root)."""
    file_name = posixpath.basename(path)
    stem, ext = posixpath.splitext(file_name)
    fmt = records.FORMATS.get(ext.lower(), "Other")
    category, subcategory = folders(path)
    meta = header.metadata if header else None
    has_metadata = facts is not None  # at least one sidecar was read
    facts = facts or Facts()
    base_model = facts.baseModel or safetensors_header.infer_base_model(meta)
    model_type = facts.type or safetensors_header.infer_type(
        header.tensors if header else None, category=category
    )
    precision = header.precision if header else None
    local_file = {
        "id": records.derive_id("file", path),
        "fileName": file_name,
        "sizeKb": round(size / 1024, 2),
        "format": fmt,
        "precision": precision,
    }
    images = _images(previews, facts.local)
    trained = facts.trainedWords
    versions = [
        _version(
            facts.local,
            path=path,
            is_local=True,
            files=[local_file],
            images=images,
            base_model=base_model,
            trained_words=trained,
        )
    ]
    for other in facts.others:
        files = [
            {
                "id": _id(f.id, "file", path, str(other.id), str(f.name)),
                "fileName": f.name,
                "sizeKb": f.sizeKB,
                "format": f.metadata.format if f.metadata else None,
                "precision": f.metadata.fp if f.metadata else None,
            }
            for f in other.files
        ]
        versions.append(
            _version(
                other,
                path=path,
                is_local=False,
                files=files,
                images=[],
                base_model=None,
                trained_words=[],
            )
        )
    hero = images[0] if images else None
    return {
        "name": facts.name or (meta or {}).get("modelspec.title") or stem,
        "type": model_type,
        "description": facts.description,
        "fileSize": size,
        "category": category,
        "subcategory": subcategory,
        "baseModel": base_model,
        "nsfwLevel": facts.nsfwLevel or 0,
        "creatorName": facts.creatorName,
        "creatorAvatar": facts.creatorAvatar,
        "tags": facts.tags,
        "stats": facts.stats or stats(None),
        "trainedWords": trained,
        "licensingInfo": facts.licensingInfo,
        "hasMetadata": has_metadata,
        "heroImage": (
            {k: hero[k] for k in ("id", "thumbPath", "width", "height", "nsfwLevel", "blurhash")}
            if hero
            else None
        ),
        "versions": versions,
        "format": fmt,
        "precision": precision,
        "headerMetadata": meta,
        "fingerprint": fingerprint,
    }
