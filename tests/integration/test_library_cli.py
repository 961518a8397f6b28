"""The operator's path from the README: drop a file into the models root with `relay library
put`, index it with `relay library scan`, find it through the API with the shown key."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from typer.testing import CliRunner

from shared.cli import app
from shared.library import fixtures, records
from tests.helpers import site_url


def relay(*args: str) -> dict:
    result = CliRunner().invoke(app, ["library", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_a_dropped_file_is_listed_after_a_scan(stack, tmp_path: Path) -> None:
    folder = f"cli-{uuid.uuid4().hex[:10]}"
    spec = fixtures.specs(count=1, seed=7)[0]
    model_file = next(
        data for rel, data in fixtures.objects(spec).items() if rel.endswith(".safetensors")
    )
    local = tmp_path / "dropped.safetensors"
    local.write_bytes(model_file)

    placed = relay("put", str(local), "--to", f"{folder}/mine/dropped.safetensors")
    assert placed["object"] == f"{records.models_root()}/{folder}/mine/dropped.safetensors"
    report = relay("scan", "--under", folder)
    assert report["indexed"] == 1 and report["problems"] == []

    key = relay("key", "show")["apiKey"]
    listed = httpx.get(
        f"{site_url(stack, 'library')}/api/v1/models",
        params={"category": folder},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ).json()
    assert [item["name"] for item in listed["items"]] == ["dropped"]
    assert listed["items"][0]["subcategory"] == "mine"

    again = relay("scan", "--under", folder)
    assert (again["indexed"], again["unchanged"]) == (0, 1)


def test_put_refuses_a_path_outside_the_models_root(stack, tmp_path: Path) -> None:
    local = tmp_path / "x.safetensors"
    local.write_bytes(b"\x00" * 16)
    result = CliRunner().invoke(app, ["library", "put", str(local), "--to", "../escape.bin"])
    assert result.exit_code == 1
    assert json.loads(result.output.strip().splitlines()[-1])["ok"] is False
