"""The tiny-model builder: production pipeline classes, deterministic, idempotent saves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gpu_handlers import tiny_models


def test_saves_are_complete_and_marked(tiny_model_dir: Path) -> None:
    for model_id in tiny_models.BUILDERS:
        path = tiny_model_dir / model_id
        assert tiny_models.is_complete(path)
        marker = json.loads((path / tiny_models.MARKER_FILE).read_text())
        assert marker["model"] == model_id and marker["tiny"] is True


def test_second_run_is_a_noop(tiny_model_dir: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in tiny_model_dir.rglob("*") if p.is_file()}
    tiny_models.ensure_tiny_models(tiny_model_dir)
    after = {p: p.stat().st_mtime_ns for p in tiny_model_dir.rglob("*") if p.is_file()}
    assert before == after


def test_weights_are_deterministic() -> None:
    pipes: list[Any] = [tiny_models.build_flux_schnell(), tiny_models.build_flux_schnell()]
    a, b = (pipe.transformer.state_dict() for pipe in pipes)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_builds_one_model(tmp_path: Path) -> None:
    assert tiny_models.main(["--out", str(tmp_path), "--model", "z-image-turbo"]) == 0
    assert tiny_models.is_complete(tmp_path / "z-image-turbo")
    assert not (tmp_path / "flux-schnell").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["z-image-turbo"]  # no temp dirs left
