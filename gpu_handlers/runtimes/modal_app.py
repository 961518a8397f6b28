"""The `relay-images` Modal app: one class per handler (image models and media handlers),
plus a `generate` entry point.

Deploy:   modal deploy -m gpu_handlers.runtimes.modal_app      (from the repo root)
Submit:   modal.Function.from_name("relay-images", "generate").spawn(
              model, payload, callback_url, callback_token)
          (what `shared/providers/modal.py` does; the call's return value is the output dict)
Offline:  run_local("flux-schnell", payload)   # the GPU class body, in this process

Invariants:
- Each GPU class (`ZImageTurbo`, `FluxSchnell`) loads its pipeline once per container in
  `@modal.enter` and serves `generate(payload) -> dict`, which is exactly the model handler's
  pure `generate`; so `run_local(m, p) == <model handler>.generate(p)` for the same weights.
- `generate(model, payload, callback_url, callback_token)` is a small CPU function: it
  validates the payload (bad input never starts a GPU), runs the model's GPU class, POSTs
  the RunPod-shaped report `{"id": <function call id>, "status": "COMPLETED", "output": ...}`
  (or `"FAILED"` with `"error"`) to `callback_url` with `callback_token` in the
  X-Relay-Callback-Token header (never in the URL, which request logs keep), and returns the
  output (or `{"error": ...}` for bad input), so polling `FunctionCall.get()` sees the same
  result when a callback is lost.
- `run_local` goes through Modal's own `.local()` path (enter hook, then the method), which
  needs no Modal token or network; importing this module needs neither (images, volumes and
  classes are lazy definitions until `modal deploy`/`modal run`), nor torch.
- Weights: in the container `RELAY_MODEL_DIR` is unset, so the Hugging Face repo is used,
  cached on the `relay-hf-cache` volume (HF_HOME) so only the first cold start downloads.
  Locally, `RELAY_MODEL_DIR` decides, as for every handler.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import modal
from pydantic import ValidationError

from gpu_handlers.errors import ModelMismatchError, describe_input_error
from gpu_handlers.registry import get_handler
from shared.schemas.images import ImageGenerationInput, ImageModel
from shared.schemas.media import MediaHandlerInput, is_media_payload

log = logging.getLogger(__name__)

APP_NAME = "relay-images"
HF_CACHE_PATH = "/cache"
CALLBACK_ATTEMPTS = 5

app = modal.App(APP_NAME)

# Same pins as pyproject's `gpu` extra (plus the schema's pydantic); keep them in step.
gpu_image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("ffmpeg")  # media handlers encode and probe with it
    .pip_install(
        "torch==2.13.0",
        "diffusers==0.42.1",
        "transformers>=4.56,<6",
        "accelerate==1.15.0",
        "pillow>=10",
        "pydantic==2.14.3",
        "httpx==0.28.1",
        "numpy>=1.26",
        "google-genai==3.6.1",
        "trimesh==4.12.2",
        "sentencepiece",  # only if a T5 tokenizer must be converted from spiece.model
    )
    .env({"HF_HOME": f"{HF_CACHE_PATH}/huggingface"})
    .add_local_python_source("gpu_handlers", "shared")
)
# The entry point only validates, waits and posts: no torch, so it starts in a second.
dispatch_image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install("pydantic==2.14.3", "httpx==0.28.1")
    .add_local_python_source("gpu_handlers", "shared")
)

hf_cache = modal.Volume.from_name("relay-hf-cache", create_if_missing=True)

_GPU_CLS_OPTIONS: dict[str, Any] = {
    "image": gpu_image,
    "volumes": {HF_CACHE_PATH: hf_cache},
    "timeout": 600,  # one generation; far above a 2048x2048, 50-step image
    "startup_timeout": 1800,  # the first cold start downloads 20-35 GB of weights
    # Keep a warm container a few minutes: a cold start reloads the weights.
    "scaledown_window": 300,
}


class _HandlerServer:
    """Shared body; subclasses only pick the handler (Modal collects hooks through the MRO)."""

    model_id: ClassVar[str]

    @modal.enter()
    def load(self) -> None:
        self._handler = get_handler(str(self.model_id))
        self._handler.load_pipeline()

    @modal.method()
    def generate(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._handler.generate(payload)


# bf16 sizes: Z-Image-Turbo ~6B DiT + Qwen3-4B encoder (~21 GB) fits an L40S (48 GB);
# FLUX.1-schnell 12B DiT + T5-XXL (~34 GB) gets an H100 for speed and headroom.
@app.cls(gpu="L40S", **_GPU_CLS_OPTIONS)
class ZImageTurbo(_HandlerServer):
    model_id = str(ImageModel.Z_IMAGE_TURBO)


@app.cls(gpu="H100", **_GPU_CLS_OPTIONS)
class FluxSchnell(_HandlerServer):
    model_id = str(ImageModel.FLUX_SCHNELL)


# Media handlers (shared/schemas/media.py HANDLER_TASKS), sized by their production weights.
@app.cls(gpu="H100", **_GPU_CLS_OPTIONS)
class FluxKontext(_HandlerServer):
    model_id = "flux-kontext"  # 12B DiT + T5-XXL


@app.cls(gpu="H100", **{**_GPU_CLS_OPTIONS, "timeout": 1800})
class LtxVideo(_HandlerServer):
    model_id = "ltx-video"  # 13B DiT, two passes + latent upsampler


@app.cls(cpu=8.0, memory=16384, **{**_GPU_CLS_OPTIONS, "timeout": 900})
class FfmpegVideo(_HandlerServer):
    model_id = "ffmpeg-video"  # no weights: ffmpeg on CPUs


@app.cls(gpu="L4", **_GPU_CLS_OPTIONS)
class OmniVoice(_HandlerServer):
    model_id = "omnivoice"  # Sesame CSM-1B


@app.cls(cpu=1.0, secrets=[modal.Secret.from_name("relay-gemini")], **_GPU_CLS_OPTIONS)
class GeminiTts(_HandlerServer):
    model_id = "gemini-tts"  # a hosted API: GEMINI_API_KEY from the secret


@app.cls(gpu="L40S", **{**_GPU_CLS_OPTIONS, "timeout": 900})
class Whisper(_HandlerServer):
    model_id = "whisper"  # large-v3 + distil-large-v3 in fp16


@app.cls(gpu="L40S", **{**_GPU_CLS_OPTIONS, "timeout": 1200})
class AceStep(_HandlerServer):
    model_id = "ace-step"


@app.cls(gpu="L40S", **_GPU_CLS_OPTIONS)
class MossSound(_HandlerServer):
    model_id = "moss-sound"  # ~8B, ~17 GB fp16


@app.cls(gpu="H100", **{**_GPU_CLS_OPTIONS, "timeout": 1200})
class Trellis(_HandlerServer):
    model_id = "trellis"  # TRELLIS.2-4B


MODEL_CLASSES: dict[str, Any] = {
    str(cls.model_id): cls
    for cls in (
        ZImageTurbo, FluxSchnell, FluxKontext, LtxVideo, FfmpegVideo, OmniVoice, GeminiTts,
        Whisper, AceStep, MossSound, Trellis,
    )
}  # fmt: skip

Runner = Callable[[str, dict[str, Any]], dict[str, Any]]
Poster = Callable[[str, dict[str, Any]], None]


def post_callback(url: str, body: dict[str, Any], *, token: str = "") -> None:
    """POST `body` to `url` (the job's token in the X-Relay-Callback-Token header), retrying
    network errors and 5xx with backoff.

    Giving up is safe: the control plane's sweeper polls `FunctionCall.get()` for jobs
    whose callback never arrived.
    """
    import httpx  # only the dispatch container needs it

    for attempt in range(CALLBACK_ATTEMPTS):
        try:
            response = httpx.post(
                url, json=body, headers={"X-Relay-Callback-Token": token}, timeout=30.0
            )
            if response.status_code < 500:
                return  # 2xx applied; 4xx (bad token, stale) will not improve by retrying
        except httpx.HTTPError as exc:
            log.warning("callback attempt %d failed: %s", attempt + 1, exc)
        time.sleep(min(2**attempt, 10))
    log.error("callback to control plane failed %d times; left to reconcile", CALLBACK_ATTEMPTS)


def _remote_runner(model: str, payload: dict[str, Any]) -> dict[str, Any]:
    return MODEL_CLASSES[model]().generate.remote(payload)


def _validate(model: str, payload: dict[str, Any]) -> None:
    """Refuse a payload before any GPU starts: another handler's, or one that fails its
    schema (the media contract, or PicShapes' image input)."""
    if model not in MODEL_CLASSES:
        raise ModelMismatchError(f"no handler {model!r}")
    if is_media_payload(payload):
        job = MediaHandlerInput.model_validate(payload)
        if job.handler != model:
            raise ModelMismatchError(f"job is for {model!r}, payload for {job.handler!r}")
        return
    request = ImageGenerationInput.model_validate(payload)
    if str(request.model) != model:
        raise ModelMismatchError(f"job is for {model!r}, payload for {request.model.value!r}")


def run_job(
    model: str,
    payload: dict[str, Any],
    callback_url: str,
    *,
    call_id: str | None,
    runner: Runner = _remote_runner,
    post: Poster = post_callback,
) -> dict[str, Any]:
    """Body of the `generate` entry point (plain, so it can be tested offline).

    Returns the output dict, or `{"error": "invalid input: ..."}` for bad input; a failure
    while generating is reported to the callback and then re-raised.
    """
    try:
        _validate(model, payload)
    except (ValidationError, ValueError) as exc:
        error = describe_input_error(exc) or f"invalid input: {exc}"
        post(callback_url, {"id": call_id, "status": "FAILED", "error": error})
        return {"error": error}
    try:
        output = runner(model, payload)
    except Exception as exc:
        post(callback_url, {"id": call_id, "status": "FAILED", "error": str(exc)[:500]})
        raise
    post(callback_url, {"id": call_id, "status": "COMPLETED", "output": output})
    return output


@app.function(image=dispatch_image, timeout=3600)  # covers a GPU cold start plus the job
def generate(
    model: str, payload: dict[str, Any], callback_url: str, callback_token: str = ""
) -> dict[str, Any]:
    return run_job(
        model,
        payload,
        callback_url,
        call_id=modal.current_function_call_id(),
        post=functools.partial(post_callback, token=callback_token),
    )


# One Modal object per model, so the enter hook (pipeline load) runs once per process.
_local_objects: dict[str, Any] = {}


def run_local(model_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run the Modal GPU class body for `model_id` in this process (no token, no network).

    Raises what the handler raises (`pydantic.ValidationError` for bad input); an unknown
    `model_id` raises `ValueError`.
    """
    if model_id not in MODEL_CLASSES:
        raise ValueError(f"unknown handler {model_id!r}")
    model = model_id
    obj = _local_objects.get(model)
    if obj is None:
        obj = _local_objects[model] = MODEL_CLASSES[model]()
    with warnings.catch_warnings():
        # Modal warns that a local call cannot see the HF-cache volume; locally weights
        # come from RELAY_MODEL_DIR or the local HF cache instead, by design.
        warnings.filterwarnings("ignore", message=".*mounted Volume.*")
        return obj.generate.local(payload)
