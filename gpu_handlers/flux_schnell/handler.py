"""FLUX.1-schnell handler: binds the shared diffusion code to this model's spec.

Invariants (see `gpu_handlers.diffusion` for the shared ones): the pipeline is loaded once
per process; `generate` only accepts payloads with `model == "flux-schnell"`; schnell is
timestep-distilled, so `guidance_scale` is 0.0 and the T5 prompt is capped at 256 tokens
(schnell's trained maximum).
"""

from __future__ import annotations

import os
from typing import Any

from gpu_handlers import diffusion
from gpu_handlers.flux_schnell.schema import ImageModel

SPEC = diffusion.ModelSpec(
    model_id=ImageModel.FLUX_SCHNELL,
    pipeline_class="FluxPipeline",
    repo_id="black-forest-labs/FLUX.1-schnell",
    call_kwargs={"guidance_scale": 0.0, "max_sequence_length": 256},
)


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> Any:
    """Load (once per process) and return the `FluxPipeline`.

    `model_dir` is a root with one subfolder per model id (overrides `$RELAY_MODEL_DIR`);
    with neither set the weights come from the Hugging Face repo.
    """
    return diffusion.load(SPEC, model_dir).pipe


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    """Validate `payload` (an `ImageGenerationInput` dict) and return an output dict."""
    return diffusion.generate(SPEC, payload)
