"""Fixtures for the GPU-handler tests: tiny offline pipelines, built once per session.

Invariants:
- Nothing is downloaded: HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE are set and RELAY_MODEL_DIR
  points at tiny random pipelines for the whole session.
- The tiny models come from `/work/main/.local/models` (the repo's `.local/models`) when it
  already holds complete tiny saves (marker file present, so real weights placed there
  are never picked up by accident); otherwise they are built into a session temp dir (~1 s).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The editable install may not map these packages; tests import them from the checkout.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
# Before diffusers/huggingface_hub are imported: they read these once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from gpu_handlers import diffusion, tiny_models  # noqa: E402
from tests.handlers.media_helpers import media_bucket  # noqa: E402, F401

LOCAL_MODELS = REPO_ROOT / ".local" / "models"


def _has_tiny_models(root: Path) -> bool:
    wanted = [
        m
        for m in tiny_models.ALL_MODELS
        if m not in tiny_models.TINY_MODULES or tiny_models._has_module(m)
    ]
    return all(tiny_models.is_complete(root / model_id) for model_id in wanted)


@pytest.fixture(scope="session", autouse=True)
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if _has_tiny_models(LOCAL_MODELS):
        root = LOCAL_MODELS
    else:
        root = tmp_path_factory.mktemp("models")
        tiny_models.ensure_tiny_models(root)
    saved = os.environ.get("RELAY_MODEL_DIR")
    os.environ["RELAY_MODEL_DIR"] = str(root)
    yield root
    diffusion.clear_cache()
    if saved is None:
        os.environ.pop("RELAY_MODEL_DIR", None)
    else:
        os.environ["RELAY_MODEL_DIR"] = saved
