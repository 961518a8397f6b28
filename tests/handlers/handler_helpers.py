"""Small helpers shared by the handler tests (decode the PNG a handler returned)."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

MODELS = ["z-image-turbo", "flux-schnell"]


def payload(model: str, /, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": model,
        "prompt": "a lighthouse on a cliff at dusk",
        "width": 64,
        "height": 64,
        "steps": 2,
        "seed": 7,
    }
    return {**base, **overrides}


def decode_png(output: dict[str, Any]) -> Image.Image:
    raw = base64.b64decode(output["image_png_b64"], validate=True)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(raw))
    assert image.format == "PNG"
    image.load()
    return image
