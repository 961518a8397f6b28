"""Where a media job runs: task -> handler -> backend, and what its one output is.

- The handler follows `shared.schemas.media.HANDLER_TASKS`: `audio.speak` runs on
  `gemini-tts` for provider gemini and on `omnivoice` otherwise; `image.generate` on
  `flux-kontext` when it carries reference images (Kontext conditions on images; Z-Image
  Turbo is text-only) and on `z-image-turbo` otherwise; every other task on its one handler.
- The backend is configuration (`RELAY_MEDIA_BACKENDS`, handler -> runpod | modal; RunPod
  by default), like the image models' (`RELAY_IMAGE_BACKENDS`); RunPod's endpoint id is
  `RELAY_RUNPOD_ENDPOINTS[handler]`.
- A job may run for `TIMEOUTS[task]` seconds before the sweep fails it (released in full).
"""

from __future__ import annotations

from typing import Any, Final

from shared.engine.settings import get_settings
from shared.media.jobs.request import AudioSpeakRequest, ImageGenerateRequest, MediaJobRequestModel
from shared.schemas.media import (
    HANDLER_TASKS,
    IMAGE_CONTENT_TYPES,
    SPEECH_CONTENT_TYPE,
    TASK_CONTENT_TYPE,
)

TIMEOUTS: Final[dict[str, int]] = {
    "image.generate": 600,
    "image.edit": 600,
    "video.generate": 1800,
    "video.combine": 900,
    "video.resize": 900,
    "audio.speak": 600,
    "audio.annotation.reference": 900,
    "ace.step.create": 1200,
    "moss.sound.effect": 600,
    "trellis.generate": 1200,
}
# Largest output a handler may upload, per task family.
MAX_OUTPUT_BYTES: Final[dict[str, int]] = {
    "image": 64 << 20,
    "video": 2 << 30,
    "audio": 256 << 20,
    "application": 16 << 20,
    "model": 512 << 20,
}
_SINGLE: Final = {
    task: handler
    for handler, tasks in HANDLER_TASKS.items()
    for task in tasks
    if task not in ("audio.speak", "image.generate")
}


def handler_for(request: MediaJobRequestModel) -> str:
    if isinstance(request, AudioSpeakRequest):
        return "gemini-tts" if request.input.provider == "gemini" else "omnivoice"
    if isinstance(request, ImageGenerateRequest):
        return "flux-kontext" if request.input.reference_images else "z-image-turbo"
    return _SINGLE[request.task]


def backend_for(handler: str) -> str:
    return get_settings().media_backends.get(handler, "runpod")


def content_type_for(request: MediaJobRequestModel) -> str:
    if request.task in TASK_CONTENT_TYPE:
        return TASK_CONTENT_TYPE[request.task]
    if isinstance(request, AudioSpeakRequest):
        return SPEECH_CONTENT_TYPE[request.input.provider]
    fmt: Any = getattr(request.input, "output_format")  # noqa: B009 (image requests only)
    return IMAGE_CONTENT_TYPES[fmt]


def max_output_bytes(content_type: str) -> int:
    return MAX_OUTPUT_BYTES[content_type.split("/")[0]]
