"""Shared text-to-image loading and generation for every diffusers-based handler.

Each model folder (`gpu_handlers/<model>/handler.py`) only declares a `ModelSpec` and binds
`load_pipeline` / `generate` to it; all behaviour lives here, once.

Invariants:
- Where weights come from: `$RELAY_MODEL_DIR/<model-id>/` when `RELAY_MODEL_DIR` (or the
  `model_dir` argument) is set, loaded with `local_files_only=True` so nothing is ever
  downloaded; otherwise the Hugging Face repo id (production images pre-fetch it). The same
  `Pipeline.from_pretrained(...)` call serves both.
- One pipeline per (model id, source) per process, loaded lazily on first use and cached at
  module level; requests never load weights.
- dtype: bfloat16 on CUDA, float32 on CPU.
- `generate(payload)` is a pure function of the payload (given the loaded weights, device and
  library versions): the input is parsed with the shared `ImageGenerationInput` (so anything
  it rejects raises `pydantic.ValidationError`), the noise comes from a CPU
  `torch.Generator` seeded with `seed` (CPU so a seed means the same noise on every device),
  and the result is `ImageGenerationOutput(...).model_dump()`.
- The returned PNG is exactly `width` x `height`: the pipeline runs at the sizes rounded up
  to its required multiple (`2 * vae_scale_factor`, 16 for Flux and Z-Image) and the image
  is resized with PIL (Lanczos) when that differs from the request.
- A payload whose `model` names a different model raises `ModelMismatchError` (a
  `ValueError`): a routing bug must not silently run the wrong weights.
- Calls into one pipeline are serialised with a lock: diffusers pipelines keep per-call
  state on the scheduler and are not safe to run concurrently.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gpu_handlers.errors import ModelMismatchError
from shared.schemas.images import ImageGenerationInput, ImageGenerationOutput

__all__ = ["ModelMismatchError", "ModelSpec", "clear_cache", "generate", "load"]

MODEL_DIR_ENV = "RELAY_MODEL_DIR"


@dataclass(frozen=True)
class ModelSpec:
    """What differs between the image models; everything else is shared."""

    model_id: str  # handler id: an `ImageModel` (StrEnum) or a media handler id
    pipeline_class: str  # attribute of the `diffusers` package, e.g. "FluxPipeline"
    repo_id: str  # production weights on the Hugging Face hub
    call_kwargs: dict[str, Any] = field(default_factory=dict)  # fixed pipeline arguments


@dataclass
class LoadedPipeline:
    pipe: Any  # a diffusers DiffusionPipeline
    source: str
    device: torch.device
    dtype: torch.dtype
    multiple: int  # width and height must be multiples of this
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE: dict[tuple[str, str], LoadedPipeline] = {}
_CACHE_LOCK = threading.Lock()


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype_for(device: torch.device) -> torch.dtype:
    # bf16 halves memory and is what the production checkpoints are trained in; CPUs run
    # bf16 slowly or not at all, so CPU (tests, tiny models) stays float32.
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def resolve_source(spec: ModelSpec, model_dir: str | os.PathLike[str] | None = None) -> str:
    """`weights_source` for an image model's spec."""
    return weights_source(str(spec.model_id), spec.repo_id, model_dir)


def weights_source(
    model_id: str,
    repo_id: str,
    model_dir: str | os.PathLike[str] | None = None,
    *,
    marker: str = "model_index.json",
) -> str:
    """Path of the local weights (`<root>/<model-id>`) or, with no root set, the HF repo id.

    `model_dir` is the root holding one subfolder per model id; it overrides
    `$RELAY_MODEL_DIR`. A root that lacks this model's folder (its `marker` file) is an
    error, never a silent fallback to downloading. Every handler resolves weights here.
    """
    root = model_dir if model_dir is not None else os.environ.get(MODEL_DIR_ENV) or None
    if root is None:
        return repo_id
    path = Path(root).expanduser().resolve() / model_id
    if not (path / marker).is_file():
        raise FileNotFoundError(
            f"no saved model for {model_id} at {path} (root from "
            f"{'model_dir' if model_dir is not None else MODEL_DIR_ENV}); build tiny models "
            "with `python -m gpu_handlers.tiny_models --out <root>` or download the weights"
        )
    return str(path)


def load(spec: ModelSpec, model_dir: str | os.PathLike[str] | None = None) -> LoadedPipeline:
    """Load (once per process) and return the pipeline for `spec`."""
    source = resolve_source(spec, model_dir)
    key = (str(spec.model_id), source)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        import diffusers  # heavy; only the loading path needs the pipeline classes

        pipeline_cls = getattr(diffusers, spec.pipeline_class)
        device = default_device()
        dtype = dtype_for(device)
        is_local = Path(source).is_dir()
        # `dtype`, not `torch_dtype`: diffusers 0.42 deprecates the latter (FutureWarning).
        pipe = pipeline_cls.from_pretrained(source, dtype=dtype, local_files_only=is_local)
        pipe.to(device)
        # Per-step tqdm bars would flood worker logs.
        pipe.set_progress_bar_config(disable=True)
        loaded = LoadedPipeline(
            pipe=pipe,
            source=source,
            device=device,
            dtype=dtype,
            multiple=2 * int(pipe.vae_scale_factor),
        )
        _CACHE[key] = loaded
        return loaded


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def encode_png(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def generate(
    spec: ModelSpec,
    payload: dict[str, Any],
    model_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Validate `payload`, run the pipeline, return an `ImageGenerationOutput` dump."""
    request = ImageGenerationInput.model_validate(payload)
    if request.model != spec.model_id:
        raise ModelMismatchError(
            f"this handler serves {str(spec.model_id)!r}, payload asks for {request.model.value!r}"
        )
    loaded = load(spec, model_dir)
    gen_width = round_up(request.width, loaded.multiple)
    gen_height = round_up(request.height, loaded.multiple)
    generator = torch.Generator(device="cpu").manual_seed(request.seed)
    with loaded.lock:
        # negative_prompt is validated but not passed: both models are distilled to run
        # without classifier-free guidance (guidance 0 / true_cfg 1), which ignores it.
        result = loaded.pipe(
            prompt=request.prompt,
            width=gen_width,
            height=gen_height,
            num_inference_steps=request.steps,
            generator=generator,
            output_type="pil",
            **spec.call_kwargs,
        )
    image: Image.Image = result.images[0].convert("RGB")
    if image.size != (request.width, request.height):
        image = image.resize((request.width, request.height), Image.Resampling.LANCZOS)
    return ImageGenerationOutput(
        image_png_b64=encode_png(image),
        width=request.width,
        height=request.height,
        seed=request.seed,
    ).model_dump()


def clear_cache() -> None:
    """Drop every loaded pipeline (tests; freeing memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
