"""Model id -> handler module, for runtimes that serve a model chosen at start-up.

Invariant: every `ImageModel` has exactly one handler module exposing
`load_pipeline(model_dir=None)` and `generate(payload) -> dict`. Modules are imported on
demand so that picking a model does not import the other models' code.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Protocol, cast

from shared.schemas.images import ImageModel


class ImageHandler(Protocol):
    def load_pipeline(self, model_dir: str | os.PathLike[str] | None = None) -> Any: ...

    def generate(self, payload: dict[str, Any]) -> dict[str, Any]: ...


HANDLER_MODULES: dict[ImageModel, str] = {
    ImageModel.Z_IMAGE_TURBO: "gpu_handlers.z_image_turbo.handler",
    ImageModel.FLUX_SCHNELL: "gpu_handlers.flux_schnell.handler",
}


def get_handler(model_id: str) -> ImageHandler:
    """The handler module for `model_id`; `ValueError` for an unknown id."""
    model = ImageModel(model_id)  # ValueError names the bad id
    return cast(ImageHandler, importlib.import_module(HANDLER_MODULES[model]))
