"""Images in the library: checked by content, measured, thumbnailed (WebP) and blurhashed.

One copy for everything that takes an image in: preview images found by the scan and
images users upload. An image is what Pillow decodes as JPEG, PNG, WebP or GIF, whatever
its name or declared type says; anything else (or a decompression bomb) is INVALID.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from shared.engine.errors import AppError, ErrorKind

FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "GIF": ("gif", "image/gif"),
}
THUMB_EDGE = 320
MAX_PIXELS = 64_000_000  # past this an image is refused, not decoded


@dataclass(frozen=True)
class Picture:
    format: str  # JPEG, PNG, WEBP, GIF
    extension: str
    content_type: str
    width: int
    height: int
    thumb_webp: bytes
    blurhash: str


def inspect(data: bytes) -> Picture:
    """Decode `data` as an image (by content) and make its thumbnail and blurhash."""
    import blurhash
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                probe.verify()
            image = Image.open(io.BytesIO(data))
            image.load()
    except Exception as exc:  # Pillow raises many types for bad data
        raise AppError(ErrorKind.INVALID, "File is not a valid image") from exc
    if kind not in FORMATS:
        raise AppError(ErrorKind.INVALID, "Image must be JPEG, PNG, WebP or GIF")
    width, height = image.size
    rgb = image.convert("RGB")
    thumb = rgb.copy()
    thumb.thumbnail((THUMB_EDGE, THUMB_EDGE))
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=80)
    small = rgb.copy()
    small.thumbnail((64, 64))
    extension, content_type = FORMATS[kind]
    return Picture(
        format=kind,
        extension=extension,
        content_type=content_type,
        width=width,
        height=height,
        thumb_webp=out.getvalue(),
        blurhash=blurhash.encode(small, x_components=4, y_components=3),
    )
