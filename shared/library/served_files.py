"""The library objects the web UI may fetch at `/files/<object name>`: pictures, never models.

An object is served only when its name is normal (relative, no `.`/`..` segments, no
backslash or NUL, no doubled slash), ends in an image extension, and lies under `thumbs/`,
`uploads/` or the models root (preview images next to the model files). Everything else,
model files included, is FORBIDDEN before anything is read from the bucket; a permitted
name that does not exist is NOT_FOUND. The Content-Type follows the extension, and the
response is marked `nosniff`, so what a browser renders is an image or nothing.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from shared.engine.errors import AppError, ErrorKind
from shared.library import downloads, storage
from shared.library.records import models_root

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}
MAX_NAME = 1024  # Cloud Storage's own limit on an object name, in bytes


@dataclass(frozen=True)
class ServedFile:
    content_type: str
    size: int
    etag: str  # the object's generation: changes whenever the object does
    chunks: Iterator[bytes]  # streamed in ranged reads, never whole in memory


def permitted(object_name: str) -> str:
    """The content type `object_name` is served with; FORBIDDEN unless it is a picture in
    one of the served areas (see the module docstring)."""
    if (
        not object_name
        or len(object_name.encode()) > MAX_NAME
        or object_name.startswith("/")
        or "\\" in object_name
        or "\x00" in object_name
        or posixpath.normpath(object_name) != object_name
    ):
        raise AppError(ErrorKind.FORBIDDEN, "Path outside the library")
    content_type = CONTENT_TYPES.get(posixpath.splitext(object_name)[1].lower())
    areas = (storage.THUMBS, storage.UPLOADS, models_root())
    if content_type is None or not any(object_name.startswith(f"{a}/") for a in areas):
        raise AppError(ErrorKind.FORBIDDEN, "Only library images are served here")
    return content_type


def read(*, object_name: str) -> ServedFile:
    """The picture `object_name` (FORBIDDEN outside the served areas, NOT_FOUND if absent)."""
    content_type = permitted(object_name)
    blob = storage.bucket().get_blob(object_name)
    if blob is None:
        raise AppError(ErrorKind.NOT_FOUND, "File not found")
    size = int(blob.size or 0)
    return ServedFile(
        content_type=content_type,
        size=size,
        etag=f'"{blob.generation}"',
        chunks=downloads.chunks(blob, 0, size - 1),
    )
