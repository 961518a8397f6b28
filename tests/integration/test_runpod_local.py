"""Integration tests for the local RunPod control plane (infra/local/runpod_server.py).

The server runs as its real CLI subprocess and the workers are real, unmodified
``runpod.serverless.start`` processes (tests/integration/runpod_echo_worker.py) configured only
through ``worker_env``; the client side is plain HTTP, as in production. Every wait is bounded.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from infra.local.runpod_server import EXTENSION_KEY, ServerConfig, create_app, worker_env

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)

API_KEY = "local-test-key"
EP = "echo-ep"  # served by two real workers for the whole module
IDLE_EP = "idle-ep"  # never has a worker, so its jobs stay queued
LOSSY_EP = "lossy-ep"  # two more workers; the worker-loss test kills one
WORKER_SCRIPT = REPO_ROOT / "tests" / "integration" / "runpod_echo_worker.py"
WORKER_TTL_S = 3.0
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}

T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1
) -> T:
    """Poll until ``probe`` returns something truthy and return it; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)
        last = probe()
    return last


def _stop_groups(procs: list[subprocess.Popen[bytes]], grace_s: float = 8.0) -> None:
    """SIGTERM each process group (the SDK's heartbeat is a child process), then SIGKILL."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(deadline - time.monotonic(), 0.1))
    for proc in procs:
        # Also reaps a heartbeat child left behind by a parent that exited first.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


class WebhookSink:
    """Tiny HTTP receiver; ``/flaky`` answers 500 to the first delivery of each job id."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with sink._lock:
                    first = not any(b.get("id") == body.get("id") for _, b in sink.calls)
                    sink.calls.append((self.path, body))
                self.send_response(500 if self.path == "/flaky" and first else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def for_job(self, job_id: str) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(path, body) for path, body in self.calls if body.get("id") == job_id]

    def wait_for(self, job_id: str, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        def probe() -> list[tuple[str, dict[str, Any]]] | None:
            calls = self.for_job(job_id)
            return calls if len(calls) >= count else None

        calls = _wait_until(
            probe,
            timeout,
            f"{count} webhook call(s) for {job_id}",
        )
        return [body for _, body in calls]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class RunpodStack:
    base: str
    tmp: Path
    sink: WebhookSink
    log_path: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def client(self, endpoint: str = EP, key: str | None = API_KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.Client(base_url=f"{self.base}/v2/{endpoint}", headers=headers, timeout=30)

    def start_worker(self, endpoint: str, worker_id: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            **worker_env(self.base, endpoint, API_KEY, worker_id, ping_interval_ms=1000),
            "RUNPOD_LOG_LEVEL": "INFO",
            # The SDK prefers an api_key from ~/.runpod/config.toml over RUNPOD_AI_API_KEY.
            "HOME": str(self.tmp),
            "ECHO_WORKER_LOG": str(self.log_path),
        }
        out = (self.tmp / f"worker-{worker_id}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT)],
            env=env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so the heartbeat child can be signalled with it
        )
        out.close()
        self.procs[worker_id] = proc
        return proc

    def executions(self) -> list[dict[str, str]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]


def _health(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/health")
    assert response.status_code == 200, response.text
    return response.json()


def _status(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/status/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _wait_status(
    client: httpx.Client, job_id: str, statuses: set[str] = TERMINAL, timeout: float = 15
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body = _status(client, job_id)
        return body if body["status"] in statuses else None

    return _wait_until(probe, timeout, f"job {job_id} to reach {sorted(statuses)}")


def _wait_idle(stack: RunpodStack, endpoint: str, count: int, timeout: float = 10) -> None:
    with stack.client(endpoint) as client:
        _wait_until(
            lambda: _health(client)["workers"]["idle"] == count,
            timeout,
            f"{count} idle worker(s) on {endpoint}",
        )


def _submit(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post("/run", json=body)
    assert response.status_code == 200, response.text
    submitted = response.json()
    assert submitted["status"] == "IN_QUEUE"
    return str(submitted["id"])


@pytest.fixture(scope="module")
def runpod_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunpodStack]:
    tmp = tmp_path_factory.mktemp("runpod_local")
    port = _free_port()
    sink = WebhookSink()
    stack = RunpodStack(
        base=f"http://127.0.0.1:{port}", tmp=tmp, sink=sink, log_path=tmp / "exec.log"
    )
    server_log = (tmp / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.local.runpod_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--api-key",
            API_KEY,
            "--endpoints",
            f"{EP},{IDLE_EP},{LOSSY_EP}",
            # Short long-polls let SIGTERMed workers exit fast; a short TTL keeps the
            # worker-loss test quick (workers ping every second).
            "--long-poll-s",
            "2",
            "--worker-ttl-s",
            str(WORKER_TTL_S),
            "--webhook-retry-delays",
            "0.3,0.3",
        ],
        cwd=REPO_ROOT,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server_log.close()
    try:
        with stack.client() as client:

            def server_up() -> bool:
                with contextlib.suppress(httpx.TransportError):
                    return client.get("/health").status_code == 200
                return False

            _wait_until(server_up, 15, "server to accept requests")
            # All workers start together: each pays ~2 s of SDK import time.
            for endpoint, worker_id in [(EP, "w1"), (EP, "w2"), (LOSSY_EP, "l1"), (LOSSY_EP, "l2")]:
                stack.start_worker(endpoint, worker_id)
            for endpoint in (EP, LOSSY_EP):
                _wait_idle(stack, endpoint, 2, timeout=30)
        yield stack
    finally:
        _stop_groups(list(stack.procs.values()))
        _stop_groups([server])
        sink.close()


def test_auth_is_required(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client(key=None) as anonymous:
        assert anonymous.get("/health").status_code == 401
        assert anonymous.post("/run", json={"input": {}}).status_code == 401
    with runpod_stack.client(key="wrong") as wrong:
        assert wrong.get("/health").status_code == 401
        # Worker-facing routes are guarded the same way.
        take = wrong.get("/job-take/intruder?gpu=local&job_in_progress=0")
        assert take.status_code == 401
    # The raw key (how the worker SDK sends it) is accepted as well as "Bearer <key>".
    raw = httpx.get(f"{runpod_stack.base}/v2/{EP}/health", headers={"Authorization": API_KEY})
    assert raw.status_code == 200


def test_unknown_endpoint_and_job_are_404(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client("no-such-endpoint") as client:
        assert client.post("/run", json={"input": {}}).status_code == 404
        assert client.get("/health").status_code == 404
    with runpod_stack.client() as client:
        assert client.get("/status/not-a-job").status_code == 404


def test_malformed_requests_are_400(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client() as client:
        headers = {"Content-Type": "application/json"}
        assert client.post("/run", content=b"{not json", headers=headers).status_code == 400
        assert client.post("/run", json={"webhook": "http://x"}).status_code == 400
        assert client.post("/run", json=["input"]).status_code == 400
        bad_policy = {"input": {}, "policy": {"executionTimeout": "soon"}}
        assert client.post("/run", json=bad_policy).status_code == 400


def test_health_counts_live_workers_idle_then_running(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client() as client:
        _wait_until(lambda: _health(client)["workers"]["idle"] == 2, 10, "two idle workers")
        job_id = _submit(client, {"input": {"sleep": 1.5}})
        busy = _wait_until(
            lambda: (h := _health(client))["workers"]["running"] == 1 and h,
            10,
            "one running worker",
        )
        assert busy["workers"]["idle"] == 1
        assert busy["jobs"]["inProgress"] == 1
        assert _wait_status(client, job_id)["status"] == "COMPLETED"
        _wait_until(lambda: _health(client)["workers"]["idle"] == 2, 10, "workers idle again")


def test_run_completes_and_fires_webhook(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client() as client:
        job_id = _submit(
            client, {"input": {"prompt": "hi"}, "webhook": f"{runpod_stack.sink.url}/hook"}
        )
        done = _wait_status(client, job_id)
    assert done["status"] == "COMPLETED"
    assert done["output"]["echo"] == {"prompt": "hi"}
    assert done["workerId"] in {"w1", "w2"}
    assert isinstance(done["delayTime"], int)
    assert isinstance(done["executionTime"], int)
    [payload] = runpod_stack.sink.wait_for(job_id)
    assert payload == done  # the webhook body is exactly the /status object


def test_handler_exception_fails_with_error_and_webhook(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client() as client:
        job_id = _submit(
            client, {"input": {"raise": "boom"}, "webhook": f"{runpod_stack.sink.url}/hook"}
        )
        failed = _wait_status(client, job_id)
        assert failed["status"] == "FAILED"
        assert "output" not in failed
        # The SDK reports an exception as a JSON string with type, message and traceback.
        assert json.loads(failed["error"])["error_message"] == "boom"
        [payload] = runpod_stack.sink.wait_for(job_id)
        assert payload["status"] == "FAILED"
        assert payload["error"] == failed["error"]

        returned = _submit(client, {"input": {"return_error": "bad prompt"}})
        failed = _wait_status(client, returned)
        assert (failed["status"], failed["error"]) == ("FAILED", "bad prompt")


def test_cancel_queued_job(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client(IDLE_EP) as client:
        job_id = _submit(client, {"input": {"n": 1}, "webhook": f"{runpod_stack.sink.url}/hook"})
        assert _health(client)["jobs"]["inQueue"] == 1
        response = client.post(f"/cancel/{job_id}")
        assert response.status_code == 200
        assert response.json() == {"id": job_id, "status": "CANCELLED"}
        assert _status(client, job_id)["status"] == "CANCELLED"
        assert _health(client)["jobs"]["inQueue"] == 0
    time.sleep(0.5)
    assert runpod_stack.sink.for_job(job_id) == []  # cancellation sends no webhook


def test_cancel_in_progress_job_stops_it_on_the_worker(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client() as client:
        job_id = _submit(client, {"input": {"sleep": 30}})
        _wait_status(client, job_id, {"IN_PROGRESS"})
        assert client.post(f"/cancel/{job_id}").json()["status"] == "CANCELLED"
        # The SDK's job-stop channel cancels the handler, so the worker frees up long before 30s.
        _wait_until(lambda: _health(client)["workers"]["running"] == 0, 10, "worker to stop job")
        assert _status(client, job_id)["status"] == "CANCELLED"


def test_execution_timeout_marks_timed_out(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client() as client:
        job_id = _submit(
            client,
            {
                "input": {"sleep": 30},
                "policy": {"executionTimeout": 1000},
                "webhook": f"{runpod_stack.sink.url}/hook",
            },
        )
        timed_out = _wait_status(client, job_id, timeout=10)
        assert timed_out["status"] == "TIMED_OUT"
        [payload] = runpod_stack.sink.wait_for(job_id)
        assert payload["status"] == "TIMED_OUT"
        _wait_until(lambda: _health(client)["workers"]["running"] == 0, 10, "worker to stop job")


def test_runsync_returns_output(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client() as client:
        response = client.post("/runsync", json={"input": {"n": 7}})
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "COMPLETED"
        assert body["output"]["echo"] == {"n": 7}
        assert body["id"].startswith("sync-")

        # When the wait runs out, runsync answers with the unfinished status object.
        pending = client.post("/runsync?wait=200", json={"input": {"sleep": 1.5}}).json()
        assert pending["status"] in {"IN_QUEUE", "IN_PROGRESS"}
        assert _wait_status(client, pending["id"])["status"] == "COMPLETED"


def test_official_sdk_client_works_against_local_server(
    runpod_stack: RunpodStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runpod

    monkeypatch.setattr(runpod, "endpoint_url_base", f"{runpod_stack.base}/v2")
    endpoint = runpod.Endpoint(EP, api_key=API_KEY)
    assert endpoint.run_sync({"input": {"via": "sdk"}}, timeout=20)["echo"] == {"via": "sdk"}
    assert endpoint.health()["workers"]["ready"] >= 1


def test_webhook_is_retried_until_accepted(runpod_stack: RunpodStack) -> None:
    with runpod_stack.client() as client:
        job_id = _submit(client, {"input": {"k": 1}, "webhook": f"{runpod_stack.sink.url}/flaky"})
        first, second = runpod_stack.sink.wait_for(job_id, count=2)
    assert first == second
    assert first["status"] == "COMPLETED"
    time.sleep(0.8)  # past the next retry delay: an accepted delivery is not repeated
    assert len(runpod_stack.sink.for_job(job_id)) == 2


def test_twenty_jobs_two_workers_each_completes_exactly_once(runpod_stack: RunpodStack) -> None:
    hook = f"{runpod_stack.sink.url}/hook"
    with runpod_stack.client() as client, ThreadPoolExecutor(max_workers=20) as pool:
        job_ids = list(
            pool.map(
                lambda i: _submit(client, {"input": {"i": i, "sleep": 0.05}, "webhook": hook}),
                range(20),
            )
        )
        results = list(pool.map(lambda job_id: _wait_status(client, job_id, timeout=30), job_ids))
    assert len(set(job_ids)) == 20
    assert [r["status"] for r in results] == ["COMPLETED"] * 20
    assert [r["output"]["echo"]["i"] for r in results] == list(range(20))
    assert {r["workerId"] for r in results} == {"w1", "w2"}
    executed = [e["job"] for e in runpod_stack.executions() if e["job"] in set(job_ids)]
    assert sorted(executed) == sorted(job_ids)  # each handler ran exactly once
    for job_id in job_ids:
        runpod_stack.sink.wait_for(job_id)
    time.sleep(0.3)
    assert all(len(runpod_stack.sink.for_job(job_id)) == 1 for job_id in job_ids)


def test_job_of_a_lost_worker_is_requeued_to_another(runpod_stack: RunpodStack) -> None:
    marker = runpod_stack.tmp / "lossy-marker"
    with runpod_stack.client(LOSSY_EP) as client:
        job_id = _submit(client, {"input": {"sleep_once": 30, "marker": str(marker)}})
        [first] = _wait_until(
            lambda: [e["worker"] for e in runpod_stack.executions() if e["job"] == job_id],
            10,
            "a worker to start the handler",
        )
        os.killpg(
            runpod_stack.procs[first].pid, signal.SIGKILL
        )  # mid-job: no result, no more pings
        done = _wait_status(client, job_id, timeout=WORKER_TTL_S + 15)
        survivor = ({"l1", "l2"} - {first}).pop()
        assert (done["status"], done["workerId"]) == ("COMPLETED", survivor)
        assert _health(client)["jobs"]["retried"] == 1
    runs = [e["worker"] for e in runpod_stack.executions() if e["job"] == job_id]
    assert runs == [first, survivor]


def test_in_process_app_batch_take_stream_retry_purge_and_ping() -> None:
    """The worker-API corners the echo worker never exercises, via create_app in-process."""
    app = create_app(API_KEY, ["solo"], ServerConfig(long_poll_s=0.05))
    auth = {"Authorization": API_KEY}
    # The SDK labels its JSON result bodies as form data.
    form = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
    http = app.test_client()
    try:
        ids = [
            http.post("/v2/solo/run", json={"input": {"i": i}}, headers=auth).get_json()["id"]
            for i in range(4)
        ]
        batch = http.get(
            "/v2/solo/job-take-batch/wb?gpu=local&job_in_progress=0&batch_size=2", headers=auth
        )
        assert [job["id"] for job in batch.get_json()] == ids[:2]  # FIFO
        single = http.get("/v2/solo/job-take/wb?gpu=local&job_in_progress=1", headers=auth)
        assert single.get_json() == {"id": ids[2], "input": {"i": 2}}

        chunk = json.dumps({"output": "partial"})
        http.post(
            f"/v2/solo/job-stream/wb/{ids[0]}?gpu=local&isStream=false", data=chunk, headers=form
        )
        streamed = http.get(f"/v2/solo/stream/{ids[0]}", headers=auth).get_json()
        assert streamed["stream"] == [{"output": "partial"}]
        final = json.dumps({"output": ["partial"]})
        url = f"/v2/solo/job-done/wb/{ids[0]}?gpu=local&isStream=true"
        assert http.post(url, data=final, headers=form).get_json()["accepted"] is True
        # A second result for a finished job is acknowledged but does not change it.
        late = http.post(url, data=json.dumps({"error": "late"}), headers=form)
        assert (late.status_code, late.get_json()["accepted"]) == (200, False)
        done = http.get(f"/v2/solo/status/{ids[0]}", headers=auth).get_json()
        assert (done["status"], done["output"]) == ("COMPLETED", ["partial"])

        failed_url = f"/v2/solo/job-done/wb/{ids[1]}?gpu=local&isStream=false"
        http.post(failed_url, data=json.dumps({"error": "x"}), headers=form)
        retried = http.post(f"/v2/solo/retry/{ids[1]}", headers=auth).get_json()
        assert retried == {"id": ids[1], "status": "IN_QUEUE"}
        health = http.get("/v2/solo/health", headers=auth).get_json()
        assert (health["jobs"]["inQueue"], health["jobs"]["retried"]) == (2, 1)
        purged = http.post("/v2/solo/purge-queue", headers=auth).get_json()
        assert purged == {"removed": 2, "status": "completed"}
        empty = http.get("/v2/solo/job-take/wb?gpu=local&job_in_progress=1", headers=auth)
        assert empty.status_code == 204

        # The SDK reports a failed start-up fitness check through the ping URL.
        http.get("/v2/solo/ping/wb?gpu=local&status=unhealthy&check=mem", headers=auth)
        assert http.get("/v2/solo/health", headers=auth).get_json()["workers"]["unhealthy"] == 1
    finally:
        app.extensions[EXTENSION_KEY].close()
