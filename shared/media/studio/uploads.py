"""Binary uploads into a project: the filename rule, the content check and the size cap.

What can never happen: bytes nobody checked become an asset. An upload's type is decided by
its content alone (the client's Content-Type and the filename's extension are not trusted):
PDF (`%PDF-`), binary glTF (magic, version 2, declared length equal to the size), UTF-8 JSON
(depth-checked before decoding), UTF-8 text without NUL, an image Pillow reads (PNG, JPEG,
WebP, GIF), or audio / video FFmpeg's demuxers read (headers only); anything else is INVALID
with `details.code == "unsupported_media_type"` and nothing is stored. A body over
MAX_UPLOAD_BYTES is TOO_LARGE (the route's body limit). A filename is 1..240 characters,
no path separators, no control characters, not `.` or `..`. The project must be the caller's.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Final

from shared.engine.errors import AppError, ErrorKind
from shared.engine.validate import loads_json
from shared.media.jobs.staging import sniff
from shared.media.studio import assets
from shared.media.studio.models import Asset
from shared.media.studio.workspace import owned_project

MAX_UPLOAD_BYTES: Final = 25 * 1024 * 1024
MAX_FILENAME_CHARS: Final = 240
UNSUPPORTED: Final = "unsupported_media_type"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MARKDOWN_SUFFIXES: Final = (".md", ".markdown")


def check_filename(raw: str | None) -> str:
    if raw is None or raw == "":
        raise AppError(ErrorKind.INVALID, "filename: is required")
    if len(raw) > MAX_FILENAME_CHARS:
        raise AppError(ErrorKind.INVALID, f"filename: at most {MAX_FILENAME_CHARS} characters")
    if "/" in raw or "\\" in raw or raw.strip() in ("", ".", "..") or _CONTROL.search(raw):
        raise AppError(ErrorKind.INVALID, "filename: must be a plain file name")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise AppError(ErrorKind.INVALID, "filename: must be valid Unicode") from None
    return raw


def _unsupported(reason: str) -> AppError:
    return AppError(ErrorKind.INVALID, f"body: {reason}", {"code": UNSUPPORTED})


def _text_mime(data: bytes, filename: str) -> str | None:
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            loads_json(data)
            json.loads(stripped)
            return "application/json"
        except (AppError, ValueError, RecursionError):
            pass  # text that only looks like JSON stays text
    if filename.lower().endswith(_MARKDOWN_SUFFIXES):
        return "text/markdown"
    return "text/plain"


def _is_glb(data: bytes) -> bool:
    if len(data) < 12 or data[:4] != b"glTF":
        return False
    version, length = struct.unpack("<II", data[4:12])
    return version == 2 and length == len(data)


def content_mime(data: bytes, filename: str) -> str:
    """The MIME type `data` really is; INVALID (unsupported_media_type) otherwise."""
    if not data:
        raise AppError(ErrorKind.INVALID, "body: must not be empty")
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data[:4] == b"glTF":
        if not _is_glb(data):
            raise _unsupported("not a valid binary glTF (version 2) file")
        return "model/gltf-binary"
    text = _text_mime(data, filename)
    if text is not None:
        return text
    for media in ("image", "video", "audio"):
        try:
            return sniff(media, data, field="body").mime
        except AppError:
            continue
    raise _unsupported("not a supported image, audio, video, text, JSON, PDF or glTF file")


def upload(*, account_id: str, project_id: str, filename: str, data: bytes) -> Asset:
    """Check, store and record one upload; nothing is written unless every check passes."""
    owned_project(account_id, project_id)
    if len(data) > MAX_UPLOAD_BYTES:
        raise AppError(ErrorKind.TOO_LARGE, f"body: at most {MAX_UPLOAD_BYTES} bytes")
    mime = content_mime(data, filename)
    return assets.store_file(
        account_id=account_id, project_id=project_id, filename=filename, data=data, mime_type=mime
    )
