"""generate() of both image handlers, run on the tiny offline pipelines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from handler_helpers import MODELS, decode_png, payload
from pydantic import ValidationError

from gpu_handlers import diffusion
from gpu_handlers.registry import get_handler
from shared.schemas.images import ImageGenerationInput, ImageGenerationOutput

PACKAGES = {"z-image-turbo": "z_image_turbo", "flux-schnell": "flux_schnell"}
PIPELINE_CLASSES = {"z-image-turbo": "ZImagePipeline", "flux-schnell": "FluxPipeline"}
HANDLERS_DIR = Path(__file__).resolve().parents[2] / "gpu_handlers"


@pytest.fixture(params=MODELS)
def model(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize(
    ("width", "height"),
    [(64, 64), (100, 70), (256, 256)],  # 100x70: not multiples of 16 -> round up + resize
)
def test_png_has_exact_requested_size(model: str, width: int, height: int) -> None:
    out = get_handler(model).generate(payload(model, width=width, height=height, steps=3))
    ImageGenerationOutput.model_validate(out)
    assert (out["width"], out["height"], out["seed"]) == (width, height, 7)
    assert out["content_type"] == "image/png"
    image = decode_png(out)
    assert image.size == (width, height)
    assert image.mode == "RGB"


def test_same_seed_gives_identical_bytes(model: str) -> None:
    handler = get_handler(model)
    first = handler.generate(payload(model, seed=123))
    second = handler.generate(payload(model, seed=123))
    assert first == second


def test_different_seed_gives_different_image(model: str) -> None:
    handler = get_handler(model)
    a = np.asarray(decode_png(handler.generate(payload(model, seed=1))), dtype=np.int16)
    b = np.asarray(decode_png(handler.generate(payload(model, seed=2))), dtype=np.int16)
    assert np.abs(a - b).mean() > 1.0


@pytest.mark.parametrize(
    "bad",
    [
        {"prompt": None},  # missing prompt (removed below)
        {"prompt": ""},
        {"width": 10},
        {"height": 4096},
        {"steps": 0},
        {"seed": -1},
        {"model": "sdxl"},
        {"extra_field": 1},
    ],
    ids=[
        "missing-prompt",
        "empty-prompt",
        "width-10",
        "height-4096",
        "steps-0",
        "seed-neg",
        "unknown-model",
        "extra-field",
    ],
)
def test_invalid_input_raises_validation_error(model: str, bad: dict[str, Any]) -> None:
    body = payload(model, **bad)
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(ValidationError):
        get_handler(model).generate(body)


def test_payload_for_other_model_is_rejected(model: str) -> None:
    other = next(m for m in MODELS if m != model)
    with pytest.raises(diffusion.ModelMismatchError):
        get_handler(model).generate(payload(other))


def test_pipeline_loaded_once_and_of_production_class(model: str) -> None:
    handler = get_handler(model)
    pipe = handler.load_pipeline()
    assert handler.load_pipeline() is pipe
    assert type(pipe).__name__ == PIPELINE_CLASSES[model]
    # The tiny model needs the same size multiple as production (VAE factor 8, 2x2 patches).
    assert 2 * pipe.vae_scale_factor == 16


def test_spec_matches_saved_pipeline_class(model: str, tiny_model_dir: Path) -> None:
    spec = get_handler(model).SPEC  # type: ignore[attr-defined]
    index = json.loads((tiny_model_dir / model / "model_index.json").read_text())
    assert index["_class_name"] == spec.pipeline_class == PIPELINE_CLASSES[model]


def test_test_input_json_is_valid_and_runs(model: str) -> None:
    job = json.loads((HANDLERS_DIR / PACKAGES[model] / "test_input.json").read_text())
    request = ImageGenerationInput.model_validate(job["input"])
    assert request.model.value == model
    image = decode_png(get_handler(model).generate(job["input"]))
    assert image.size == (request.width, request.height)


def test_schema_module_reexports_shared_schema(model: str) -> None:
    import importlib

    schema = importlib.import_module(f"gpu_handlers.{PACKAGES[model]}.schema")
    assert schema.ImageGenerationInput is ImageGenerationInput
    assert schema.ImageGenerationOutput is ImageGenerationOutput


def test_source_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = get_handler("flux-schnell").SPEC  # type: ignore[attr-defined]
    monkeypatch.delenv("RELAY_MODEL_DIR", raising=False)
    assert diffusion.resolve_source(spec) == "black-forest-labs/FLUX.1-schnell"
    # A model root without this model's folder must fail, never fall back to downloading.
    monkeypatch.setenv("RELAY_MODEL_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError):
        diffusion.resolve_source(spec)
    with pytest.raises(FileNotFoundError):
        get_handler("flux-schnell").load_pipeline(model_dir=tmp_path)


def test_round_up() -> None:
    assert [diffusion.round_up(v, 16) for v in (64, 65, 70, 79, 80, 2048)] == [
        64,
        80,
        80,
        80,
        80,
        2048,
    ]
