"""Text-to-image input: the one schema both submit validation and the GPU handlers use.

A job's `input` is stored exactly as this model dumps it, and the handler parses it back
with the same model, so what was validated and priced at submit is what runs.
Site rules (tier limits, defaults) live with the site; these are the hard bounds any
image handler accepts.
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MIN_SIDE = 64
MAX_SIDE = 2048
MAX_STEPS = 50
MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARS = 4000


class ImageModel(StrEnum):
    Z_IMAGE_TURBO = "z-image-turbo"
    FLUX_SCHNELL = "flux-schnell"


class ImageGenerationInput(BaseModel):
    """What a text-to-image handler receives (the RunPod/Modal `input` payload)."""

    model_config = ConfigDict(extra="forbid")

    model: ImageModel
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    negative_prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    width: int = Field(ge=MIN_SIDE, le=MAX_SIDE)
    height: int = Field(ge=MIN_SIDE, le=MAX_SIDE)
    steps: int = Field(ge=1, le=MAX_STEPS)
    # A caller that names no seed (a marketplace run whose schema leaves it optional) gets
    # a random one; the stored job input then has none, the handler's output names it.
    seed: int = Field(default_factory=lambda: secrets.randbelow(MAX_SEED + 1), ge=0, le=MAX_SEED)


class ImageGenerationOutput(BaseModel):
    """What a text-to-image handler returns: one PNG, base64-encoded."""

    model_config = ConfigDict(extra="forbid")

    image_png_b64: str
    width: int
    height: int
    seed: int
    content_type: str = "image/png"


def input_json_schema() -> dict:
    return ImageGenerationInput.model_json_schema()
