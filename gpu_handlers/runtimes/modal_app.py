"""The `relay-images` Modal app: one GPU class per image model.

Deploy:   modal deploy -m gpu_handlers.runtimes.modal_app
Call:     modal.Cls.from_name("relay-images", "FluxSchnell")().generate.remote(payload)
Offline:  run_local("flux-schnell", payload)   # same class body, in this process

Invariants:
- Each class loads its pipeline once per container in `@modal.enter` and serves
  `generate(payload) -> dict`, which is exactly the model handler's pure `generate`; so
  `run_local(m, p) == <model handler>.generate(p)` for the same weights.
- `run_local` goes through Modal's own `.local()` path (enter hook, then the method), which
  needs no Modal token or network; importing this module needs neither (images, volumes and
  classes are lazy definitions until `modal deploy`/`modal run`).
- Weights: in the container `RELAY_MODEL_DIR` is unset, so the Hugging Face repo is used,
  cached on the `relay-hf-cache` volume (HF_HOME) so only the first cold start downloads.
  Locally, `RELAY_MODEL_DIR` decides, as for every handler.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import modal

from gpu_handlers.registry import get_handler
from shared.schemas.images import ImageModel

APP_NAME = "relay-images"
HF_CACHE_PATH = "/cache"

app = modal.App(APP_NAME)

# Same pins as pyproject's `gpu` extra (plus the schema's pydantic); keep them in step.
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(
        "torch==2.13.0",
        "diffusers==0.42.1",
        "transformers>=4.56,<6",
        "accelerate==1.15.0",
        "pillow>=10",
        "pydantic==2.14.3",
        "sentencepiece",  # only if a T5 tokenizer must be converted from spiece.model
    )
    .env({"HF_HOME": f"{HF_CACHE_PATH}/huggingface"})
    .add_local_python_source("gpu_handlers", "shared")
)

hf_cache = modal.Volume.from_name("relay-hf-cache", create_if_missing=True)

_CLS_OPTIONS: dict[str, Any] = {
    "image": image,
    "volumes": {HF_CACHE_PATH: hf_cache},
    "timeout": 600,
    # Keep a warm container a few minutes: a cold start reloads ~20-35 GB of weights.
    "scaledown_window": 300,
}


class _ImageModelServer:
    """Shared body; subclasses only pick the model (Modal collects hooks through the MRO)."""

    model_id: ClassVar[ImageModel]

    @modal.enter()
    def load(self) -> None:
        self._handler = get_handler(self.model_id.value)
        self._handler.load_pipeline()

    @modal.method()
    def generate(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._handler.generate(payload)


# bf16 sizes: Z-Image-Turbo ~6B DiT + Qwen3-4B encoder (~21 GB) fits an L40S (48 GB);
# FLUX.1-schnell 12B DiT + T5-XXL (~34 GB) gets an H100 for speed and headroom.
@app.cls(gpu="L40S", **_CLS_OPTIONS)
class ZImageTurbo(_ImageModelServer):
    model_id = ImageModel.Z_IMAGE_TURBO


@app.cls(gpu="H100", **_CLS_OPTIONS)
class FluxSchnell(_ImageModelServer):
    model_id = ImageModel.FLUX_SCHNELL


MODEL_CLASSES: dict[ImageModel, Any] = {
    ImageModel.Z_IMAGE_TURBO: ZImageTurbo,
    ImageModel.FLUX_SCHNELL: FluxSchnell,
}

# One Modal object per model, so the enter hook (pipeline load) runs once per process.
_local_objects: dict[ImageModel, Any] = {}


def run_local(model_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run the Modal class body for `model_id` in this process (no token, no network).

    Raises what the handler raises (`pydantic.ValidationError` for bad input); an unknown
    `model_id` raises `ValueError`.
    """
    model = ImageModel(model_id)
    obj = _local_objects.get(model)
    if obj is None:
        obj = _local_objects[model] = MODEL_CLASSES[model]()
    with warnings.catch_warnings():
        # Modal warns that a local call cannot see the HF-cache volume; locally weights
        # come from RELAY_MODEL_DIR or the local HF cache instead, by design.
        warnings.filterwarnings("ignore", message=".*mounted Volume.*")
        return obj.generate.local(payload)
