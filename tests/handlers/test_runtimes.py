"""RunPod worker and Modal app: same results as the handlers, errors in each convention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import modal
import pytest
from handler_helpers import MODELS, decode_png, payload
from pydantic import ValidationError

from gpu_handlers.registry import HANDLER_IDS, get_handler
from gpu_handlers.runtimes import modal_app
from gpu_handlers.runtimes.runpod_worker import MODEL_ENV, make_handler, parse_model_arg

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=MODELS)
def model(request: pytest.FixtureRequest) -> str:
    return request.param


def test_runpod_handler_returns_generate_output(model: str) -> None:
    body = payload(model, seed=11)
    assert make_handler(model)({"id": "j1", "input": body}) == get_handler(model).generate(body)


@pytest.mark.parametrize(
    "job",
    [
        {"input": {"prompt": "x", "width": 64, "height": 64, "steps": 1, "seed": 0}},
        {"input": {"width": 10}},
        {"input": {"extra_field": True}},
        {"input": "not a dict"},
        {},
    ],
    ids=["missing-model", "width-10", "extra-field", "not-a-dict", "no-input"],
)
def test_runpod_handler_reports_invalid_input(model: str, job: dict[str, Any]) -> None:
    if isinstance(job.get("input"), dict) and "prompt" in job["input"]:
        job = {"input": {**job["input"], "model": model, "width": 10}}
    elif isinstance(job.get("input"), dict):
        job = {"input": {**payload(model), **job["input"]}}
    result = make_handler(model)(job)
    assert set(result) == {"error"}
    assert result["error"].startswith("invalid input:")


def test_runpod_handler_rejects_other_models_payload(model: str) -> None:
    other = next(m for m in MODELS if m != model)
    result = make_handler(model)({"input": payload(other)})
    assert "error" in result and other in result["error"]


def test_parse_model_arg_leaves_runpod_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    argv = ["worker", "--rp_log_level", "INFO", "--model", "flux-schnell", "--test_input", "{}"]
    model, rest = parse_model_arg(argv)
    assert model == "flux-schnell"
    assert rest == ["worker", "--rp_log_level", "INFO", "--test_input", "{}"]

    monkeypatch.setenv(MODEL_ENV, "z-image-turbo")
    assert parse_model_arg(["worker", "--rp_serve_api"]) == (
        "z-image-turbo",
        ["worker", "--rp_serve_api"],
    )
    monkeypatch.delenv(MODEL_ENV)
    with pytest.raises(SystemExit):
        parse_model_arg(["worker"])
    with pytest.raises(SystemExit):
        parse_model_arg(["worker", "--model", "sdxl"])


def test_runpod_worker_runs_test_input_end_to_end(tiny_model_dir: Path) -> None:
    """The real entry point, in RunPod's local test mode: load, run one job, exit 0."""
    job = json.loads((REPO_ROOT / "gpu_handlers/flux_schnell/test_input.json").read_text())
    env = {
        **os.environ,
        "RELAY_MODEL_DIR": str(tiny_model_dir),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("RUNPOD_WEBHOOK_GET_JOB", None)  # never talk to RunPod from a test
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpu_handlers.runtimes.runpod_worker",
            "--model",
            "flux-schnell",
            "--rp_log_level",
            "INFO",
            "--test_input",
            json.dumps(job),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "completed successfully" in proc.stdout + proc.stderr


def test_modal_local_matches_handler(model: str) -> None:
    body = payload(model, width=96, height=80, seed=5)
    out = modal_app.run_local(model, body)
    assert out == get_handler(model).generate(body)
    assert decode_png(out).size == (96, 80)


def test_modal_local_invalid_input_raises(model: str) -> None:
    with pytest.raises(ValidationError):
        modal_app.run_local(model, payload(model, width=10))
    with pytest.raises(ValueError):
        modal_app.run_local("sdxl", payload(model))


def test_modal_app_definition() -> None:
    assert modal_app.app.name == "relay-images"
    assert set(modal_app.MODEL_CLASSES) == set(HANDLER_IDS)  # every handler, media included
    # The name shared/providers/modal.py spawns: Function.from_name("relay-images", "generate").
    assert isinstance(modal_app.generate, modal.Function)
    assert repr(modal_app.generate) == "Function(generate)"


class _Recorder:
    """Stands in for the HTTP callback and the remote GPU call."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.runs: list[str] = []

    def post(self, url: str, body: dict[str, Any]) -> None:
        self.posts.append((url, body))

    def run(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        self.runs.append(model)
        return modal_app.run_local(model, body)


def test_modal_entry_point_posts_runpod_shaped_report(model: str) -> None:
    rec = _Recorder()
    body = payload(model, seed=3)
    out = modal_app.run_job(
        model, body, "http://cb/x", call_id="fc-1", runner=rec.run, post=rec.post
    )
    assert out == get_handler(model).generate(body)
    assert rec.posts == [("http://cb/x", {"id": "fc-1", "status": "COMPLETED", "output": out})]


@pytest.mark.parametrize("bad", [{"width": 10}, {"extra_field": 1}, {"model": "sdxl"}])
def test_modal_entry_point_rejects_bad_input_without_gpu(model: str, bad: dict[str, Any]) -> None:
    rec = _Recorder()
    out = modal_app.run_job(
        model, payload(model, **bad), "u", call_id="fc-2", runner=rec.run, post=rec.post
    )
    assert out["error"].startswith("invalid input:")
    assert rec.runs == []
    assert rec.posts == [("u", {"id": "fc-2", "status": "FAILED", "error": out["error"]})]


def test_modal_entry_point_rejects_job_model_mismatch(model: str) -> None:
    rec = _Recorder()
    other = next(m for m in MODELS if m != model)
    out = modal_app.run_job(other, payload(model), "u", call_id=None, runner=rec.run, post=rec.post)
    assert out["error"].startswith("invalid input:") and rec.runs == []


def test_modal_entry_point_reports_then_raises_generation_failure() -> None:
    rec = _Recorder()

    def broken(model: str, body: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError):
        modal_app.run_job(
            "flux-schnell",
            payload("flux-schnell"),
            "u",
            call_id="fc-3",
            runner=broken,
            post=rec.post,
        )
    assert rec.posts == [("u", {"id": "fc-3", "status": "FAILED", "error": "CUDA out of memory"})]
