"""Z-Image-Turbo handler: binds the shared diffusion code to this model's spec.

Invariants (see `gpu_handlers.diffusion` for the shared ones): the pipeline is loaded once
per process; Turbo is distilled for guidance-free sampling, so `guidance_scale` is fixed at
0.0. Two payloads:
- PicShapes' `ImageGenerationInput` (PNG base64), only with `model == "z-image-turbo"`.
- A media job (`shared.schemas.media.is_media_payload`): `image.generate` without reference
  images, run by `gpu_handlers.media_image` (canvas, 8 steps / 12 with highDetail, upscale,
  webp/png/jpeg, upload).
"""

from __future__ import annotations

import os
from typing import Any

from gpu_handlers import diffusion, media_image
from gpu_handlers.z_image_turbo.schema import ImageModel
from shared.schemas.media import is_media_payload

SPEC = diffusion.ModelSpec(
    model_id=ImageModel.Z_IMAGE_TURBO,
    pipeline_class="ZImagePipeline",
    repo_id="Tongyi-MAI/Z-Image-Turbo",
    call_kwargs={"guidance_scale": 0.0},
)
# Turbo is distilled for 8 function evaluations (WEIGHTS.md).
MEDIA = media_image.MediaImageSpec(model=SPEC, default_steps=8)


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> Any:
    """Load (once per process) and return the `ZImagePipeline`.

    `model_dir` is a root with one subfolder per model id (overrides `$RELAY_MODEL_DIR`);
    with neither set the weights come from the Hugging Face repo.
    """
    return diffusion.load(SPEC, model_dir).pipe


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    """A media job -> `MediaHandlerOutput` dump; else an `ImageGenerationInput` dict -> an
    `ImageGenerationOutput` dump."""
    if is_media_payload(payload):
        return media_image.generate(MEDIA, payload)
    return diffusion.generate(SPEC, payload)
