"""How an arcade game file is served: one table of content types and one set of headers.

Godot 4 web exports need cross-origin isolation (SharedArrayBuffer), so every served file,
the entry HTML included, carries COOP `same-origin`, COEP `require-corp`, CORP `cross-origin`
(files are reached through signed URLs, possibly from the arcade shell's origin) and
`nosniff`. Only extensions in CONTENT_TYPES can be in a release: the bundle validator refuses
any other, so a served file's type is always known and never sniffed.
"""

from __future__ import annotations

import posixpath
from typing import Final

CONTENT_TYPES: Final[dict[str, str]] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".pck": "application/octet-stream",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".svg": "image/svg+xml",
}

ISOLATION_HEADERS: Final[dict[str, str]] = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
}


def content_type(path: str) -> str | None:
    """The served type for a release path, or None where the extension is not allowed."""
    return CONTENT_TYPES.get(posixpath.splitext(path)[1].lower())


def serving_headers(path: str) -> dict[str, str]:
    """Every header a served release file carries; KeyError for a path no release can hold."""
    kind = content_type(path)
    if kind is None:
        raise KeyError(path)
    return {"Content-Type": kind, **ISOLATION_HEADERS}
