"""FLUX.1 Kontext handler: `image.edit`, and `image.generate` with reference images.

Invariants (the media rules live in `gpu_handlers.media_image`, loading in
`gpu_handlers.diffusion`): the pipeline is loaded once per process; only media payloads for
"flux-kontext" are accepted (anything else is a `MediaInputError`). Kontext-dev is
guidance-distilled: `guidance_scale` 2.5 is the embedded guidance (no true CFG, so no
negative prompt), 28 steps by default (42 with highDetail). Generation runs at most at
`MAX_PIXELS` (Kontext's trained area, about 1 MP), resized to the requested canvas. The
source (edit) and reference images reach the model as ONE conditioning image, stitched side
by side (`media_image.stitch`).
"""

from __future__ import annotations

import os
from typing import Any

from gpu_handlers import diffusion, media_image

HANDLER_ID = "flux-kontext"
REPO_ID = "black-forest-labs/FLUX.1-Kontext-dev"  # production weights (WEIGHTS.md)
PIPELINE_CLASS = "FluxKontextPipeline"
MAX_PIXELS = 1024 * 1024

SPEC = diffusion.ModelSpec(
    model_id=HANDLER_ID,
    pipeline_class=PIPELINE_CLASS,
    repo_id=REPO_ID,
    call_kwargs={"guidance_scale": 2.5},
)
MEDIA = media_image.MediaImageSpec(
    model=SPEC, default_steps=28, conditioned=True, max_pixels=MAX_PIXELS
)


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> Any:
    """Load (once per process) and return the `FluxKontextPipeline` (`$RELAY_MODEL_DIR/
    flux-kontext/` with local_files_only when set, else the hub repo)."""
    return diffusion.load(SPEC, model_dir).pipe


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    """A media job for this handler -> the `MediaHandlerOutput` dump."""
    return media_image.generate(MEDIA, payload)
