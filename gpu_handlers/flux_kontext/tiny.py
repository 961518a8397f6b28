"""A tiny random `FluxKontextPipeline` for offline tests: the production classes (CLIP + T5
text encoders, Flux DiT with guidance embedding, AutoencoderKL, FlowMatchEulerDiscreteScheduler
with FLUX.1-dev's dynamic shifting) built from tiny configs (`tiny_models.flux_components`),
saved with `save_pretrained`. Nothing is downloaded; same versions + seed -> same weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpu_handlers.tiny_models import flux_components


def build(seed: int) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxKontextPipeline

    # Kontext-dev is guidance-distilled like FLUX.1-dev: the DiT embeds the guidance scale.
    components = flux_components(seed, guidance_embeds=True)
    # FLUX.1-Kontext-dev's own scheduler config (same as FLUX.1-dev's).
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )
    return FluxKontextPipeline(scheduler=scheduler, **components)


def save(out_dir: Path, seed: int) -> dict[str, Any]:
    pipe = build(seed)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    return {"pipeline": type(pipe).__name__}
