"""Fixtures for the grid agent tests: the tiny causal LM, its backend, a fake grid.

Invariants:
- Nothing is downloaded: HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE are set before any Hugging
  Face import, and the model is the tiny random `tiny-llm:latest`, taken from the repo's
  `.local/models/tiny-llm` when a complete tiny save is there, else built (~1 s) into a
  session temp dir.
- torch runs on one thread: the tiny model is fastest so, and test machines are shared.
- Each test gets its own fake grid on a free port; it is stopped after the test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
# Before transformers/huggingface_hub are imported: they read these once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from gpu_handlers.runtimes.grid import tiny_llm  # noqa: E402
from tests.grid_agent.fake_grid import API_KEY, FakeGrid  # noqa: E402

LOCAL_TINY_LLM = REPO_ROOT / ".local" / "models" / tiny_llm.TINY_LLM_DIRNAME


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if tiny_llm.is_complete(LOCAL_TINY_LLM):
        return LOCAL_TINY_LLM
    return tiny_llm.ensure_tiny_llm(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def tiny_backend(tiny_llm_dir: Path):  # -> TransformersBackend (torch imported lazily)
    from gpu_handlers.runtimes.grid.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_llm_dir, num_threads=1)


@pytest.fixture
def grid() -> Iterator[FakeGrid]:
    fake = FakeGrid(api_key=API_KEY)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
