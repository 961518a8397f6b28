"""Z-Image-Turbo handler: binds the shared diffusion code to this model's spec.

Invariants (see `gpu_handlers.diffusion` for the shared ones): the pipeline is loaded once
per process; `generate` only accepts payloads with `model == "z-image-turbo"`; Turbo is
distilled for guidance-free sampling, so `guidance_scale` is fixed at 0.0.
"""

from __future__ import annotations

import os
from typing import Any

from gpu_handlers import diffusion
from gpu_handlers.z_image_turbo.schema import ImageModel

SPEC = diffusion.ModelSpec(
    model_id=ImageModel.Z_IMAGE_TURBO,
    pipeline_class="ZImagePipeline",
    repo_id="Tongyi-MAI/Z-Image-Turbo",
    call_kwargs={"guidance_scale": 0.0},
)


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> Any:
    """Load (once per process) and return the `ZImagePipeline`.

    `model_dir` is a root with one subfolder per model id (overrides `$RELAY_MODEL_DIR`);
    with neither set the weights come from the Hugging Face repo.
    """
    return diffusion.load(SPEC, model_dir).pipe


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    """Validate `payload` (an `ImageGenerationInput` dict) and return an output dict."""
    return diffusion.generate(SPEC, payload)
