"""SIGTERM to a real `python -m gpu_handlers.runtimes.grid` process.

The agent runs as a subprocess with the Ollama backend, pointed at the fake grid and at a
stub Ollama whose `/api/generate` takes a chosen time, so a job is reliably in progress
when the signal arrives. Whatever happens to the job, the process must exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.grid_agent.conftest import REPO_ROOT
from tests.grid_agent.fake_grid import API_KEY, PREFIX, FakeGrid


class SlowOllama:
    """Answers `/api/tags` and, after `delay_s`, a non-streamed `/api/generate`."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.released = threading.Event()  # ends pending generations at teardown
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply({"models": [{"name": "slow:latest", "model": "slow:latest"}]})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.released.wait(owner.delay_s)
                self._reply(
                    {
                        "model": "slow:latest",
                        "created_at": "2024-01-01T00:00:00Z",
                        "response": "finished in time",
                        "done": True,
                        "done_reason": "stop",
                        "total_duration": 1_234_000_000,
                        "prompt_eval_count": 5,
                        "eval_count": 4,
                    }
                )

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def agent_process(grid: FakeGrid, ollama: SlowOllama, grace_s: float) -> subprocess.Popen[str]:
    env = os.environ | {"GRID_API_KEY": API_KEY, "PYTHONPATH": str(REPO_ROOT)}
    command = [
        sys.executable,
        "-m",
        "gpu_handlers.runtimes.grid",
        "--api-url",
        grid.url,
        "--backend",
        "ollama",
        "--ollama-url",
        ollama.url,
        "--name",
        "sigterm-box",
        "--shutdown-grace",
        str(grace_s),
    ]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture
def run_agent(grid: FakeGrid) -> Iterator[Any]:
    started: list[tuple[subprocess.Popen[str], SlowOllama]] = []

    def run(*, delay_s: float, grace_s: float) -> subprocess.Popen[str]:
        ollama = SlowOllama(delay_s)
        process = agent_process(grid, ollama, grace_s)
        started.append((process, ollama))
        return process

    yield run
    for process, ollama in started:
        if process.poll() is None:
            process.kill()
            process.wait()
        ollama.close()


JOB = {
    "job_id": 77,
    "model": "slow:latest",
    "model_family": "slow",
    "model_match": "exact",
    "prompt": "take your time",
    "blobs": [],
}


def test_sigterm_mid_job_finishes_it_within_the_grace(grid: FakeGrid, run_agent) -> None:
    grid.add_job(JOB)
    process = run_agent(delay_s=1.5, grace_s=20)
    grid.wait_for(lambda r: r.path == f"{PREFIX}/worker/jobs/77/start", timeout=20)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    result = grid.calls("POST", "/worker/jobs/77/result")
    assert [r.body for r in result] == [
        {
            "output": "finished in time",
            "input_tokens": 5,
            "output_tokens": 4,
            "duration_ms": 1234,
            "model_used": "slow:latest",
        }
    ]
    assert grid.calls("POST", "/worker/jobs/77/fail") == []
    # No poll after the signal: a stopping worker takes no new job.
    assert all(r.at < signalled for r in grid.calls("GET", "/worker/jobs/next"))


def test_sigterm_fails_a_job_that_outlasts_the_grace(grid: FakeGrid, run_agent) -> None:
    grid.add_job(JOB)
    process = run_agent(delay_s=60, grace_s=0.5)
    grid.wait_for(lambda r: r.path == f"{PREFIX}/worker/jobs/77/start", timeout=20)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert time.monotonic() - signalled < 8  # not the 60 s the generation would take
    fail = grid.calls("POST", "/worker/jobs/77/fail")
    assert [r.body for r in fail] == [{"error": "worker shutting down"}]
    assert grid.calls("POST", "/worker/jobs/77/result") == []


def test_sigint_while_idle_exits_zero_at_once(grid: FakeGrid, run_agent) -> None:
    grid.poll_window_s = 30.0  # the poll hangs as on the real grid
    process = run_agent(delay_s=0, grace_s=30)
    grid.wait_for(lambda r: r.path == f"{PREFIX}/worker/jobs/next", timeout=20)
    signalled = time.monotonic()
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert time.monotonic() - signalled < 8  # not the 30 s poll window
