"""The library's documents: where they live, how they are named, which fields queries use.

- `library_models/<id>`: one per model file under the models root. `id` is derived from the
  file's path (the first 52 bits of its SHA-256), so a rescan finds the same record, the id
  is stable across re-indexing and fits a JSON number exactly. Fields written by the scan
  are `SCANNED_FIELDS`; the user's edits of name / type / baseModel live under `user` and
  win over the scan's values; `QUERY_FIELDS` are derived from both (see `derived`) and
  written together with either, so filters and sorts always see the effective values.
- `library_notes/<id>`: the user's notes, apart from the scanned record.
- `library_images/<imageId>`: images the user uploaded for a model.
- `library_scans/<scanId>`: one scan's progress and report.

Filtering happens in Firestore (never by reading the whole catalogue): `facets` holds one
key for every combination of the equality filters a model matches (category, subcategory,
baseModel, type, hasMetadata: 32 combinations), each alone and with each of its tags. A
list query is then one `array_contains` on the combination the client asked for (plus the
first tag, if any), an optional `nsfwLevel <= max` and one sort; see
shared/library/catalog.py and the indexes in infra/firestore/firestore.indexes.json.
"""

from __future__ import annotations

import hashlib
import itertools
import posixpath
from typing import Any
from urllib.parse import quote

from shared.engine.settings import get_settings

MODELS = "library_models"
NOTES = "library_notes"
IMAGES = "library_images"
SCANS = "library_scans"
KEYS = "library_keys"
SESSIONS = "library_sessions"

MAX_ID = (1 << 52) - 1  # ids are below 2**52: exact in every JSON parser
MAX_TAGS = 50  # a model keeps (shows and is found by) its first 50 tags

# The equality filters, in the order a facet key names them (the API's parameter names).
FACET_DIMENSIONS = ("category", "subcategory", "baseModel", "type", "hasMetadata")
NSFW_MAX = 63

MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
FORMATS = {
    ".safetensors": "SafeTensor",
    ".sft": "SafeTensor",
    ".ckpt": "PickleTensor",
    ".pt": "PickleTensor",
    ".pth": "PickleTensor",
    ".bin": "PickleTensor",
    ".gguf": "GGUF",
}

# The sorts the document names -> (field, descending).
SORTS: dict[str, tuple[str, bool]] = {
    "newest": ("added_at", True),
    "oldest": ("added_at", False),
    "name": ("name_lower", False),
    "downloads": ("stats.downloadCount", True),
    "likes": ("stats.thumbsUpCount", True),
}


def derive_id(*parts: str) -> int:
    """A stable positive id below 2**52 from what names a thing (a path, a path and a name)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:7], "big") >> 4 or 1


def model_id(path: str) -> int:
    return derive_id("model", path)


def models_root() -> str:
    """The models root prefix in the library bucket, without a trailing slash."""
    return get_settings().library_models_root.strip("/")


def inside_root(path: str) -> str | None:
    """`path` (relative to the models root) as a normalised object name inside the root, or
    None when it is absolute, empty or resolves outside the root (`..`, backslashes)."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return None
    normal = posixpath.normpath(path)
    if normal in (".", "..") or normal.startswith("../") or normal != path:
        return None
    return f"{models_root()}/{normal}"


def facet_value(value: Any) -> str:
    """The case-insensitive form a filter value takes inside a facet key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote(str(value).strip().casefold(), safe="")


def facet_key(filters: dict[str, Any], tag: str | None = None) -> str:
    """The key for these equality filters (and one tag): the same on write and on query."""
    parts = [f"{d}={facet_value(filters[d])}" for d in FACET_DIMENSIONS if d in filters]
    if tag is not None:
        parts.append(f"tag={facet_value(tag)}")
    return "|".join(parts) or "*"


def facets(values: dict[str, Any], tags: list[str]) -> list[str]:
    """Every facet key a model with these effective values and tags matches."""
    present = [d for d in FACET_DIMENSIONS if values.get(d) not in (None, "")]
    keys: list[str] = []
    for size in range(len(present) + 1):
        for dims in itertools.combinations(present, size):
            chosen = {d: values[d] for d in dims}
            keys.append(facet_key(chosen))
            keys.extend(facet_key(chosen, tag) for tag in tags)
    return sorted(set(keys))


def normal_tags(tags: list[str]) -> list[str]:
    """Tags as matched: trimmed, case-folded, unique, in their first order."""
    seen: dict[str, None] = {}
    for tag in tags:
        folded = tag.strip().casefold()
        if folded:
            seen.setdefault(folded, None)
    return list(seen)


def effective(scanned: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    """The scanned values with the user's edits (name, type, baseModel) over them."""
    out = dict(scanned)
    for field in ("name", "type", "baseModel"):
        if user and user.get(field) not in (None, ""):
            out[field] = user[field]
    return out


def derived(values: dict[str, Any]) -> dict[str, Any]:
    """The query fields of a model with these effective values."""
    tags = normal_tags(list(values.get("tags") or []))
    return {
        "name_lower": str(values.get("name") or "").casefold(),
        "tags_normal": tags,
        "facets": facets(values, tags),
    }


# The model fields the scan owns (stored under `scan`) and shows as they are, unless the
# user's edit of the same name (under `user`) replaces them.
PUBLIC_FIELDS = (
    "name",
    "type",
    "description",
    "fileSize",
    "category",
    "subcategory",
    "baseModel",
    "nsfwLevel",
    "creatorName",
    "creatorAvatar",
    "tags",
    "stats",
    "trainedWords",
    "licensingInfo",
    "hasMetadata",
    "heroImage",
    "versions",
)


def document(scan: dict[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
    """What a model document holds besides id, path and added_at: the scan's facts, the
    user's edits, the effective public fields and the query fields derived from them."""
    values = effective({k: scan.get(k) for k in PUBLIC_FIELDS}, user)
    values["tags"] = list(values.get("tags") or [])[:MAX_TAGS]
    return {"scan": scan, "user": user or {}, **values, **derived(values)}


def file_url(object_name: str) -> str:
    """Where the site serves a library object (a thumbnail, a preview, an upload) to the
    signed-in UI or a key holder: `/files/<object name>` (functions/library/ui.py)."""
    return f"/files/{object_name}"
