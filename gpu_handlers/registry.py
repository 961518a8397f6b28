"""Handler id -> handler module, for runtimes that serve a handler chosen at start-up.

Invariant: every id below (the image models, and every media handler of
`shared.schemas.media.HANDLER_TASKS`) has exactly one module exposing
`load_pipeline(model_dir=None)` and `generate(payload) -> dict`. A handler whose weights can
be built tiny for offline tests also has `gpu_handlers/<folder>/tiny.py` (TINY_MODULES).
Modules are imported on demand so that picking a handler does not import the others' code.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any, Protocol, cast

from shared.schemas.images import ImageModel
from shared.schemas.media import HANDLER_TASKS


class ImageHandler(Protocol):
    def load_pipeline(self, model_dir: str | os.PathLike[str] | None = None) -> Any: ...

    def generate(self, payload: dict[str, Any]) -> dict[str, Any]: ...


def _module(handler_id: str) -> str:
    return f"gpu_handlers.{handler_id.replace('-', '_')}.handler"


HANDLER_MODULES: dict[str, str] = {
    **{str(model): _module(model) for model in ImageModel},
    **{handler_id: _module(handler_id) for handler_id in HANDLER_TASKS},
}
HANDLER_IDS: tuple[str, ...] = tuple(HANDLER_MODULES)
# Handlers that load no weights (ffmpeg, a hosted API) have no tiny model to build.
WEIGHTLESS: frozenset[str] = frozenset({"ffmpeg-video", "gemini-tts"})
TINY_MODULES: dict[str, str] = {
    handler_id: f"gpu_handlers.{handler_id.replace('-', '_')}.tiny"
    for handler_id in HANDLER_TASKS
    if handler_id not in WEIGHTLESS and handler_id not in {str(m) for m in ImageModel}
}


def is_present(handler_id: str) -> bool:
    """Whether the handler's module exists in this checkout (every registered one should:
    tests/unit checks; the local stack starts a worker for each present one)."""
    try:
        return importlib.util.find_spec(HANDLER_MODULES[handler_id]) is not None
    except ModuleNotFoundError:
        return False


def get_handler(model_id: str) -> ImageHandler:
    """The handler module for `model_id`; `ValueError` for an unknown id."""
    if model_id not in HANDLER_MODULES:
        raise ValueError(f"unknown handler {model_id!r}")
    return cast(ImageHandler, importlib.import_module(HANDLER_MODULES[model_id]))
