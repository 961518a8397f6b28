"""Model file downloads (GET /api/v1/models/:id/download), streamed from the library bucket.

- The model's stored path is resolved with records.inside_root BEFORE storage is touched: a
  path that is absolute or resolves outside the models root is FORBIDDEN and nothing is read.
- A missing model or object is NOT_FOUND.
- The body is streamed in CHUNK-sized ranged reads: never the whole file in memory.
- `Range: bytes=a-b | a- | -n` (one range) gets 206 with Content-Range; an unsatisfiable one
  gets 416 with `Content-Range: bytes */<size>`; several ranges, or a header that does not
  parse, get the whole file (200), as RFC 9110 allows.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from google.api_core.exceptions import NotFound
from werkzeug.http import parse_range_header

from shared.engine.errors import AppError, ErrorKind
from shared.library import models_store, records, storage

CHUNK = 4 << 20  # bytes per ranged read


@dataclass(frozen=True)
class Download:
    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes] = field(default_factory=lambda: iter(()))
    error: str | None = None  # set on 416: the body is then {"error": error}


def content_disposition(name: str) -> str:
    """`attachment; filename="<ascii>"` (RFC 6266), plus `filename*` when not plain ASCII."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = "".join(c for c in ascii_name if c.isprintable()) or "model"
    quoted = ascii_name.replace("\\", "\\\\").replace('"', '\\"')
    value = f'attachment; filename="{quoted}"'
    if ascii_name != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def chunks(blob: Any, start: int, end: int) -> Iterator[bytes]:
    """Bytes start..end (inclusive) of the object, read CHUNK at a time."""
    position = start
    while position <= end:
        last = min(position + CHUNK - 1, end)
        yield blob.download_as_bytes(start=position, end=last, checksum=None)
        position = last + 1


def open_download(*, model_id: int, range_header: str | None) -> Download:
    """The response for a download of the model's file (see the module docstring)."""
    doc = models_store.get(model_id)
    object_name = records.inside_root(str(doc.get("path") or ""))
    if object_name is None:
        raise AppError(ErrorKind.FORBIDDEN, "File path outside allowed directory")
    blob = storage.bucket().blob(object_name)
    try:
        blob.reload()
    except NotFound:
        raise AppError(ErrorKind.NOT_FOUND, "File not found") from None
    size = int(blob.size or 0)
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": content_disposition(posixpath.basename(object_name)),
        "Accept-Ranges": "bytes",
    }
    parsed = parse_range_header(range_header) if range_header else None
    if parsed is not None and len(parsed.ranges) == 1:
        span = parsed.range_for_length(size)
        if span is None:
            unsatisfiable = {"Content-Range": f"bytes */{size}"}
            return Download(416, unsatisfiable, error="Requested range not satisfiable")
        start, stop = span
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        headers["Content-Length"] = str(stop - start)
        return Download(206, headers, chunks(blob, start, stop - 1))
    headers["Content-Length"] = str(size)
    return Download(200, headers, chunks(blob, 0, size - 1))
