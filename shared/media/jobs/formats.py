"""Output formats, MIME names and output canvases: one copy of each rule.

- Image output formats are `webp`, `png`, `jpg` (default `webp`); the dot-prefixed spellings
  `.webp`, `.png`, `.jpg` are accepted and normalised to the bare name. Nothing else is a
  format (no `jpeg`, no upper case).
- MIME names are compared lower-case; `image/jpg` is normalised to `image/jpeg`.
- An explicit canvas gives width and height together, each at least 32 and a multiple of 32;
  images are further capped at 4 MP (4 x 2**20 = 4,194,304 pixels, so 2048 x 2048 passes).
"""

from __future__ import annotations

from typing import Final

IMAGE_OUTPUT_FORMATS: Final = ("webp", "png", "jpg")
DEFAULT_IMAGE_OUTPUT_FORMAT: Final = "webp"

MIME_ALIASES: Final = {"image/jpg": "image/jpeg"}

CANVAS_MULTIPLE: Final = 32
CANVAS_MIN: Final = 32
IMAGE_MAX_PIXELS: Final = 4 * 1024 * 1024

ASPECT_RATIOS: Final = ("1:1", "16:9", "9:16", "9:7", "7:9")


def output_format(value: object) -> tuple[str, bool]:
    """(the bare format, whether it was dot-prefixed); ValueError for anything else."""
    if not isinstance(value, str):
        raise ValueError("must be a string: webp, png or jpg")
    bare = value[1:] if value.startswith(".") else value
    if bare not in IMAGE_OUTPUT_FORMATS:
        raise ValueError(f"must be one of webp, png, jpg (or .webp, .png, .jpg), not {value!r}")
    return bare, bare != value


def normalise_mime(value: str) -> str:
    lowered = value.strip().lower()
    return MIME_ALIASES.get(lowered, lowered)


def check_canvas(width: int | None, height: int | None, *, max_pixels: int | None) -> None:
    """The explicit-canvas rule; width/height bounds and multiples are on the fields."""
    if (width is None) != (height is None):
        raise ValueError("width and height must be given together")
    if width is None or height is None:
        return
    if max_pixels is not None and width * height > max_pixels:
        raise ValueError(
            f"width x height is {width * height} pixels; the limit is {max_pixels} (4 MP)"
        )
