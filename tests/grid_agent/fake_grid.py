"""An in-test imitation of ONLY the grid's worker API, to test the agent in isolation.

It follows the Vibe Earning document's `/worker/*` contract and nothing more: Bearer auth
(401 `{"error": "unauthorized"}` otherwise), `POST /worker/register` -> 201
{worker_token, worker_id}, `GET /worker/jobs/next` -> 200 JobAssignment or 204 after the
poll window, `PATCH /worker/jobs/{id}/start` (claimed -> running, else 404/422),
`POST /worker/jobs/{id}/result` (running -> completed, else 422), `POST /worker/jobs/{id}/fail`,
`PATCH /worker/heartbeat`. Every request is recorded (method, path, query, auth header,
JSON body) so tests can assert exactly what the agent sent. It is not the real grid (that
is `functions/` + `shared/`); the lead runs the agent against the real one separately.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_KEY = "vk_live_test_worker_key"
PREFIX = "/api/v1"
JOB_PATH = re.compile(rf"^{PREFIX}/worker/jobs/(?P<id>[^/]+)/(?P<verb>start|result|fail)$")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    authorization: str | None
    body: Any  # parsed JSON, or None when the request had no body
    at: float


class FakeGrid:
    """Serves the worker API on 127.0.0.1:<free port>; `url` is the API base."""

    def __init__(self, *, api_key: str = API_KEY, poll_window_s: float = 0.05) -> None:
        self.api_key = api_key
        self.poll_window_s = poll_window_s  # the real grid holds a poll up to 30 s
        self.requests: list[Recorded] = []
        self.job_states: dict[str, str] = {}
        self._jobs: deque[dict[str, Any]] = deque()
        # (method, path) -> statuses to answer before handling normally (fault injection)
        self._faults: dict[tuple[str, str], deque[int]] = {}
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{PREFIX}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_job(self, job: dict[str, Any]) -> None:
        with self._cond:
            self._jobs.append(job)
            self._cond.notify_all()

    def inject(self, method: str, path: str, *statuses: int) -> None:
        """Answer the next requests to `method path` with these statuses first."""
        self._faults.setdefault((method, PREFIX + path), deque()).extend(statuses)

    def wait_for(self, predicate: Callable[[Recorded], bool], *, timeout: float = 10.0) -> Recorded:
        """The first recorded request matching `predicate`, waiting for it if need be."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for request in self.requests:
                    if predicate(request):
                        return request
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(r.method, r.path) for r in self.requests]
                    raise AssertionError(f"no matching request within {timeout}s; saw {seen}")
                self._cond.wait(left)

    def calls(self, method: str, path: str) -> list[Recorded]:
        with self._cond:
            return [r for r in self.requests if r.method == method and r.path == PREFIX + path]

    # -- request handling ------------------------------------------------------------------

    def _handle(self, method: str, raw_path: str, headers: Any, raw_body: bytes) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        body = json.loads(raw_body) if raw_body else None
        record = Recorded(
            method=method,
            path=parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            authorization=headers.get("Authorization"),
            body=body,
            at=time.monotonic(),
        )
        with self._cond:
            self.requests.append(record)
            self._cond.notify_all()
            faults = self._faults.get((method, parts.path))
            if faults:
                return faults.popleft(), {"error": "injected fault"}
        if record.authorization != f"Bearer {self.api_key}":
            return 401, {"error": "unauthorized"}
        if method == "POST" and parts.path == f"{PREFIX}/worker/register":
            if not isinstance(body, dict) or not isinstance(body.get("models"), list):
                return 422, {"errors": ["models is required"]}
            return 201, {"worker_token": self.api_key, "worker_id": 7}
        if method == "PATCH" and parts.path == f"{PREFIX}/worker/heartbeat":
            return 200, {"status": "ok"}
        if method == "GET" and parts.path == f"{PREFIX}/worker/jobs/next":
            return self._next_job()
        match = JOB_PATH.match(parts.path)
        if match:
            return self._job_call(method, match["id"], match["verb"], body)
        return 404, {"error": "not_found"}

    def _next_job(self) -> tuple[int, Any]:
        deadline = time.monotonic() + self.poll_window_s
        with self._cond:
            while not self._jobs:
                left = deadline - time.monotonic()
                if left <= 0:
                    return 204, None
                self._cond.wait(left)
            job = self._jobs.popleft()
            self.job_states[str(job["job_id"])] = "claimed"
            return 200, job

    def _job_call(self, method: str, job_id: str, verb: str, body: Any) -> tuple[int, Any]:
        expected = {"start": "PATCH", "result": "POST", "fail": "POST"}[verb]
        if method != expected:
            return 404, {"error": "not_found"}
        with self._cond:
            state = self.job_states.get(job_id)
            if state is None:
                return 404, {"error": "not_found"}
            if verb == "start":
                if state != "claimed":
                    return 422, {"error": "job not in claimed state"}
                self.job_states[job_id] = "running"
                return 200, {"status": "running"}
            if verb == "result":
                if state != "running":
                    return 422, {"error": "job not in running state"}
                if not isinstance(body, dict) or not {
                    "output",
                    "output_tokens",
                    "duration_ms",
                } <= set(body):
                    return 422, {"errors": ["output, output_tokens and duration_ms are required"]}
                self.job_states[job_id] = "completed"
                return 200, {"status": "accepted"}
            if not isinstance(body, dict) or not isinstance(body.get("error"), str):
                return 422, {"errors": ["error is required"]}
            self.job_states[job_id] = "failed"
            return 200, {"status": "failed"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        grid = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, payload = grid._handle(self.command, self.path, self.headers, raw)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
