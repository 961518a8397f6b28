"""A faithful local stand-in for RunPod's hosted serverless control plane.

RunPod ships no local form of its hosted queue: the SDK's ``--rp_serve_api`` test server runs the
handler in-process, does nothing on ``/run`` until ``/status`` is polled, and posts webhooks
without ``id``/``status``. This module instead reimplements the two HTTP surfaces the hosted
platform exposes, so that production code and real workers run against it unchanged:

* the **client API** (``/v2/<endpoint>/run|runsync|status|stream|cancel|retry|purge-queue|
  health``), with RunPod's JSON shapes and status words, so our plain-HTTP RunPod client only
  needs a different base URL;
* the **worker API** that an unmodified ``runpod.serverless.start(...)`` process (runpod 1.12)
  talks to, reached through the env vars returned by :func:`worker_env`:
  ``GET  /v2/<ep>/job-take/<worker>?gpu=local&job_in_progress=0|1``          -> 200 job | 204
  ``GET  /v2/<ep>/job-take-batch/<worker>?...&batch_size=N``                -> 200 [jobs] | 204
  ``GET  /v2/<ep>/job-stop/<worker>?...``                   -> 200 {"jobsToStop": [...]} | 204
  ``POST /v2/<ep>/job-done/<worker>/<job>?gpu=local&isStream=true|false``   (JSON body)
  ``POST /v2/<ep>/job-stream/<worker>/<job>?gpu=local&isStream=false``      (JSON body)
  ``GET  /v2/<ep>/ping/<worker>?gpu=local&job_id=a,b&runpod_version=...``

What the server guarantees:

* Every call needs the configured API key, as ``Authorization: Bearer <key>`` or the raw key
  (the worker SDK sends it raw); otherwise 401. Unknown endpoint id -> 404. Bad JSON or a
  missing ``input`` -> 400.
* Jobs of an endpoint are handed out FIFO, each to exactly one worker at a time. A job-take
  long-polls (``long_poll_s``) so queued work starts without polling latency.
* A job's result is accepted once, and only from the worker it was assigned to; results for
  jobs that were cancelled, timed out or reassigned are acknowledged (200) and ignored. A result
  with a truthy ``error`` (what the SDK posts when the handler raises or returns ``{"error"}``)
  makes the job FAILED, anything else COMPLETED.
* ``/status`` always carries ``id``, ``status``, ``delayTime`` and ``executionTime`` (integer ms,
  running totals while unfinished), plus ``workerId`` once assigned, ``output`` when the worker
  returned one and ``error`` when it failed.
* ``/health`` counts live workers only: ``running`` holds a job, ``idle`` has polled and holds
  none, ``initializing`` has pinged but not polled yet, ``unhealthy`` reported a failed fitness
  check; ``ready`` = idle + running, ``throttled`` is always 0. ``jobs.failed`` counts FAILED
  and TIMED_OUT.
* ``executionTimeout`` (default 600 000 ms, as hosted) turns an IN_PROGRESS job into TIMED_OUT;
  ``ttl`` (default 24 h) turns any unfinished job into TIMED_OUT (hosted deletes it instead; a
  terminal status is kinder to tests). Both send the worker a stop signal through the SDK's
  job-stop channel, like cancellation of an in-progress job does, and repeat it while the
  worker's heartbeat still lists the job (the SDK drops a signal that arrives before the job's
  task exists). Only ``async`` handlers can be interrupted: a blocking handler holds the SDK's
  event loop, so it runs to the end and its result is ignored.
* A worker is live while it has a request open or has been heard from within ``worker_ttl_s``
  (job polls and its heartbeat ping both count). Jobs held by a worker that goes silent are
  requeued at the head of the queue (``retried`` in /health) up to ``max_worker_loss_retries``
  times, then FAILED.
* Completion webhook: when a job reaches COMPLETED, FAILED or TIMED_OUT and was submitted with a
  ``webhook``, the exact object ``/status/<id>`` returns at that moment is POSTed to it as JSON,
  from a background thread, in up to 3 attempts (any 2xx ends it; hosted RunPod also makes 3
  attempts but 10 s apart, here the delays default to 1 s and 2 s). CANCELLED jobs get no
  webhook: only the caller can cancel, so it already knows. TIMED_OUT does fire one because
  nobody else would tell the caller (hosted docs only promise a call "when jobs complete").
* Finished jobs stay readable for 30 min (``/run``) or 1 min (``/runsync``) like hosted RunPod,
  then ``/status`` returns 404.

All state is in memory behind one lock: this stands in for the hosted control plane in tests and
local development, it is not durable.

Run it with ``python -m infra.local.runpod_server --port 8189 --api-key K --endpoints a,b``.
"""

import argparse
import hmac
import json
import logging
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import flask
import httpx

from infra.local.serving import configure_logging, parse_delays, serve_until_signalled

log = logging.getLogger("relay.runpod_local")

IN_QUEUE = "IN_QUEUE"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
TIMED_OUT = "TIMED_OUT"
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED, TIMED_OUT})
WEBHOOK_STATUSES = frozenset({COMPLETED, FAILED, TIMED_OUT})

# Hosted RunPod's documented defaults and limits.
DEFAULT_EXECUTION_TIMEOUT_MS = 600_000
DEFAULT_TTL_MS = 86_400_000
RUN_RETENTION_S = 30 * 60.0
RUNSYNC_RETENTION_S = 60.0
RUNSYNC_DEFAULT_WAIT_MS = 90_000
RUNSYNC_MAX_WAIT_MS = 300_000
MAX_BATCH_SIZE = 100

EXTENSION_KEY = "relay_runpod_local"

_UNSET: Any = object()


@dataclass(frozen=True)
class ServerConfig:
    """Tunables; defaults mirror hosted RunPod where it documents a value."""

    # How long job-take and job-stop requests are held open waiting for work. Short enough that a
    # SIGTERMed worker (which finishes its in-flight polls first) exits promptly.
    long_poll_s: float = 5.0
    # A worker silent for longer than this is dead: it leaves /health and its jobs are requeued.
    # Must exceed the worker's ping interval (worker_env sets 5 s).
    worker_ttl_s: float = 15.0
    default_execution_timeout_ms: int = DEFAULT_EXECUTION_TIMEOUT_MS
    default_ttl_ms: int = DEFAULT_TTL_MS
    # Pauses between the 3 webhook attempts.
    webhook_retry_delays: tuple[float, ...] = (1.0, 2.0)
    webhook_timeout_s: float = 10.0
    max_worker_loss_retries: int = 3
    reap_interval_s: float = 0.2


@dataclass
class _Job:
    id: str
    input: Any
    webhook: str | None
    execution_timeout_s: float
    ttl_s: float
    retention_s: float
    submitted_at: float
    status: str = IN_QUEUE
    worker_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    output: Any = _UNSET
    error: Any = None
    stream: list[Any] = field(default_factory=list)
    stream_read: int = 0
    retries: int = 0

    def view(self, now: float) -> dict[str, Any]:
        """The object /status returns (and the webhook body)."""
        if self.started_at is not None:
            delay = self.started_at - self.submitted_at
            execution = (self.finished_at or now) - self.started_at
        else:
            delay = (self.finished_at or now) - self.submitted_at
            execution = 0.0
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "delayTime": int(delay * 1000),
            "executionTime": int(execution * 1000),
        }
        if self.worker_id is not None:
            body["workerId"] = self.worker_id
        if self.output is not _UNSET:
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass
class _Worker:
    id: str
    last_seen: float
    open_requests: int = 0
    has_polled: bool = False
    unhealthy: bool = False
    runpod_version: str | None = None
    # Jobs the worker may still be executing, including ones we already cancelled or timed out
    # (it keeps running them until it acts on the stop signal); this is what "running" means.
    holding: set[str] = field(default_factory=set)
    stop: list[str] = field(default_factory=list)


@dataclass
class _Endpoint:
    id: str
    queue: deque[str] = field(default_factory=deque)
    jobs: dict[str, _Job] = field(default_factory=dict)
    workers: dict[str, _Worker] = field(default_factory=dict)
    completed: int = 0
    failed: int = 0
    retried: int = 0


_Delivery = tuple[str, dict[str, Any]]


class ControlPlane:
    """In-memory queue, job table and worker registry for a set of endpoints."""

    def __init__(
        self,
        api_key: str,
        endpoints: Iterable[str],
        config: ServerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must be non-empty")
        self.api_key = api_key
        self.config = config or ServerConfig()
        self.endpoints = {ep: _Endpoint(ep) for ep in endpoints if ep}
        if not self.endpoints:
            raise ValueError("at least one endpoint id is required")
        self._clock = clock
        # One condition for everything: long-polls wait on it and every state change notifies.
        self.cond = threading.Condition()
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="runpod-reaper", daemon=True)
        self._reaper.start()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop the reaper and release every held long-poll."""
        self._closed.set()
        with self.cond:
            self.cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def check_key(self, header: str | None) -> bool:
        if not header:
            return False
        token = header.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        return hmac.compare_digest(token.encode(), self.api_key.encode())

    # ------------------------------------------------------------------ client side

    def submit(
        self,
        ep: _Endpoint,
        job_input: Any,
        webhook: str | None,
        execution_timeout_ms: int | None,
        ttl_ms: int | None,
        sync: bool,
    ) -> _Job:
        now = self._clock()
        job = _Job(
            id=f"{'sync-' if sync else ''}{uuid.uuid4()}-u1",  # hosted ids look like this
            input=job_input,
            webhook=webhook,
            execution_timeout_s=(execution_timeout_ms or self.config.default_execution_timeout_ms)
            / 1000,
            ttl_s=(ttl_ms or self.config.default_ttl_ms) / 1000,
            retention_s=RUNSYNC_RETENTION_S if sync else RUN_RETENTION_S,
            submitted_at=now,
        )
        with self.cond:
            ep.jobs[job.id] = job
            ep.queue.append(job.id)
            self.cond.notify_all()
        return job

    def view(self, ep: _Endpoint, job_id: str) -> dict[str, Any] | None:
        with self.cond:
            job = ep.jobs.get(job_id)
            return None if job is None else job.view(self._clock())

    def wait_for(self, ep: _Endpoint, job_id: str, wait_s: float) -> dict[str, Any] | None:
        """Block until the job is terminal or ``wait_s`` passes; return its status object."""
        deadline = self._clock() + wait_s
        with self.cond:
            while True:
                job = ep.jobs.get(job_id)
                now = self._clock()
                if job is None:
                    return None
                if job.status in TERMINAL_STATUSES or now >= deadline or self.closed:
                    return job.view(now)
                self.cond.wait(deadline - now)

    def read_stream(self, ep: _Endpoint, job_id: str) -> dict[str, Any] | None:
        with self.cond:
            job = ep.jobs.get(job_id)
            if job is None:
                return None
            # Like hosted /stream, each chunk is handed out once.
            chunks = job.stream[job.stream_read :]
            job.stream_read = len(job.stream)
            return {"id": job.id, "status": job.status, "stream": chunks}

    def cancel(self, ep: _Endpoint, job_id: str) -> dict[str, Any] | None:
        with self.cond:
            job = ep.jobs.get(job_id)
            if job is None:
                return None
            now = self._clock()
            if job.status == IN_QUEUE:
                ep.queue.remove(job.id)
                self._finish(ep, job, CANCELLED, now)
            elif job.status == IN_PROGRESS:
                self._finish(ep, job, CANCELLED, now)
                self._signal_stop(ep, job)
            self.cond.notify_all()
            return {"id": job.id, "status": job.status}

    def retry(self, ep: _Endpoint, job_id: str) -> dict[str, Any] | str | None:
        """Requeue a FAILED/TIMED_OUT job under the same id; returns an error string otherwise."""
        with self.cond:
            job = ep.jobs.get(job_id)
            if job is None:
                return None
            if job.status not in (FAILED, TIMED_OUT):
                return f"only FAILED or TIMED_OUT jobs can be retried, job is {job.status}"
            job.status = IN_QUEUE
            job.submitted_at = self._clock()
            job.worker_id = job.started_at = job.finished_at = None
            job.output, job.error = _UNSET, None
            job.stream.clear()
            job.stream_read = 0
            ep.retried += 1
            ep.queue.append(job.id)
            self.cond.notify_all()
            return {"id": job.id, "status": job.status}

    def purge_queue(self, ep: _Endpoint) -> dict[str, Any]:
        with self.cond:
            now = self._clock()
            removed = 0
            while ep.queue:
                self._finish(ep, ep.jobs[ep.queue.popleft()], CANCELLED, now)
                removed += 1
            self.cond.notify_all()
            return {"removed": removed, "status": "completed"}

    def health(self, ep: _Endpoint) -> dict[str, Any]:
        with self.cond:
            now = self._clock()
            counts = dict.fromkeys(("idle", "initializing", "running", "unhealthy"), 0)
            for worker in ep.workers.values():
                if not self._alive(worker, now):
                    continue
                if worker.unhealthy:
                    counts["unhealthy"] += 1
                elif worker.holding:
                    counts["running"] += 1
                elif not worker.has_polled:
                    counts["initializing"] += 1
                else:
                    counts["idle"] += 1
            in_progress = sum(1 for job in ep.jobs.values() if job.status == IN_PROGRESS)
            return {
                "jobs": {
                    "completed": ep.completed,
                    "failed": ep.failed,
                    "inProgress": in_progress,
                    "inQueue": len(ep.queue),
                    "retried": ep.retried,
                },
                "workers": {
                    "idle": counts["idle"],
                    "initializing": counts["initializing"],
                    # "ready": healthy workers past start-up, whether or not busy.
                    "ready": counts["idle"] + counts["running"],
                    "running": counts["running"],
                    "throttled": 0,
                    "unhealthy": counts["unhealthy"],
                },
            }

    # ------------------------------------------------------------------ worker side

    def take_jobs(
        self, ep: _Endpoint, worker_id: str, max_jobs: int, job_in_progress: bool
    ) -> list[dict[str, Any]]:
        """Long-poll for up to ``max_jobs`` queued jobs and assign them to the worker."""
        deadline = self._clock() + self.config.long_poll_s
        with self.cond:
            worker = self._touch(ep, worker_id)
            worker.has_polled = True
            if not job_in_progress:
                self._release_stale(ep, worker, still_running=set())
            worker.open_requests += 1
            try:
                while True:
                    now = self._clock()
                    if ep.queue:
                        taken: list[dict[str, Any]] = []
                        while ep.queue and len(taken) < max_jobs:
                            job = ep.jobs[ep.queue.popleft()]
                            job.status, job.worker_id, job.started_at = IN_PROGRESS, worker_id, now
                            worker.holding.add(job.id)
                            taken.append({"id": job.id, "input": job.input})
                        self.cond.notify_all()
                        return taken
                    if now >= deadline or self.closed:
                        return []
                    self.cond.wait(deadline - now)
            finally:
                worker.open_requests -= 1
                worker.last_seen = self._clock()

    def take_stop_signals(self, ep: _Endpoint, worker_id: str) -> list[str]:
        deadline = self._clock() + self.config.long_poll_s
        with self.cond:
            worker = self._touch(ep, worker_id)
            worker.open_requests += 1
            try:
                while True:
                    if worker.stop:
                        signals, worker.stop = worker.stop, []
                        return signals
                    now = self._clock()
                    if now >= deadline or self.closed:
                        return []
                    self.cond.wait(deadline - now)
            finally:
                worker.open_requests -= 1
                worker.last_seen = self._clock()

    def job_done(
        self, ep: _Endpoint, worker_id: str, job_id: str, result: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        deliveries: list[_Delivery] = []
        with self.cond:
            worker = self._touch(ep, worker_id)
            job = ep.jobs.get(job_id)
            if job is None:
                return 404, {"error": f"job {job_id} not found"}
            worker.holding.discard(job_id)
            if job.status != IN_PROGRESS or job.worker_id != worker_id:
                # Cancelled, timed out or reassigned: the worker still gets a 200 so the SDK does
                # not retry, but the first outcome stands.
                self.cond.notify_all()
                return 200, {"accepted": False, "status": job.status}
            error = result.get("error")
            status = FAILED if error else COMPLETED
            delivery = self._finish(
                ep,
                job,
                status,
                self._clock(),
                output=result.get("output", _UNSET),
                error=error if error else None,
            )
            if delivery:
                deliveries.append(delivery)
            self.cond.notify_all()
        self._deliver(deliveries)
        return 200, {"accepted": True, "status": status}

    def job_stream(
        self, ep: _Endpoint, worker_id: str, job_id: str, chunk: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        with self.cond:
            self._touch(ep, worker_id)
            job = ep.jobs.get(job_id)
            if job is None:
                return 404, {"error": f"job {job_id} not found"}
            accepted = job.status == IN_PROGRESS and job.worker_id == worker_id
            if accepted:
                job.stream.append(chunk)
                self.cond.notify_all()
            return 200, {"accepted": accepted}

    def ping(
        self,
        ep: _Endpoint,
        worker_id: str,
        job_ids: set[str],
        runpod_version: str | None,
        unhealthy: bool,
    ) -> None:
        with self.cond:
            worker = self._touch(ep, worker_id)
            worker.runpod_version = runpod_version or worker.runpod_version
            # The SDK pings with status=unhealthy right before it exits on a failed fitness check.
            worker.unhealthy = worker.unhealthy or unhealthy
            self._release_stale(ep, worker, still_running=job_ids)
            # A stop signal can reach the SDK before the job's task exists (it is queued inside
            # the worker for up to ~0.1 s) and is then dropped, so repeat it for as long as the
            # heartbeat says the worker still runs a job that is no longer its to finish.
            for job_id in job_ids:
                job = ep.jobs.get(job_id)
                active = (
                    job is not None and job.status == IN_PROGRESS and job.worker_id == worker_id
                )
                if not active and job_id not in worker.stop:
                    worker.stop.append(job_id)
            self.cond.notify_all()

    # ------------------------------------------------------------------ internals

    def _touch(self, ep: _Endpoint, worker_id: str) -> _Worker:
        now = self._clock()
        worker = ep.workers.get(worker_id)
        if worker is None:
            worker = ep.workers[worker_id] = _Worker(worker_id, now)
        worker.last_seen = now
        return worker

    def _alive(self, worker: _Worker, now: float) -> bool:
        return worker.open_requests > 0 or now - worker.last_seen <= self.config.worker_ttl_s

    def _release_stale(self, ep: _Endpoint, worker: _Worker, still_running: set[str]) -> None:
        """Forget held jobs the worker no longer runs, unless they are still ours to finish.

        Only jobs already decided elsewhere (cancelled, timed out, reassigned) are released: the
        worker's own report of what it runs can lag a fresh assignment, so an active job stays
        held until its result arrives or the worker dies.
        """
        for job_id in list(worker.holding):
            job = ep.jobs.get(job_id)
            active = job is not None and job.status == IN_PROGRESS and job.worker_id == worker.id
            if not active and job_id not in still_running:
                worker.holding.discard(job_id)

    def _signal_stop(self, ep: _Endpoint, job: _Job) -> None:
        worker = ep.workers.get(job.worker_id or "")
        if worker is not None and job.id not in worker.stop:
            worker.stop.append(job.id)

    def _finish(
        self,
        ep: _Endpoint,
        job: _Job,
        status: str,
        now: float,
        output: Any = _UNSET,
        error: Any = None,
    ) -> _Delivery | None:
        job.status = status
        job.finished_at = now
        job.output = output
        job.error = error
        if status == COMPLETED:
            ep.completed += 1
        elif status in (FAILED, TIMED_OUT):
            ep.failed += 1
        if job.webhook and status in WEBHOOK_STATUSES:
            return job.webhook, job.view(now)
        return None

    def _reap_loop(self) -> None:
        while not self._closed.wait(self.config.reap_interval_s):
            try:
                self.reap()
            except Exception:  # the reaper must outlive any bug in one pass
                log.exception("runpod-local reaper pass failed")

    def reap(self) -> None:
        """Apply timeouts, requeue jobs of dead workers and drop expired results."""
        deliveries: list[_Delivery] = []
        with self.cond:
            now = self._clock()
            changed = False
            for ep in self.endpoints.values():
                for job in list(ep.jobs.values()):
                    if job.status in TERMINAL_STATUSES:
                        if now - (job.finished_at or now) > job.retention_s:
                            del ep.jobs[job.id]
                        continue
                    expired = now - job.submitted_at > job.ttl_s
                    overran = (
                        job.status == IN_PROGRESS
                        and job.started_at is not None
                        and now - job.started_at > job.execution_timeout_s
                    )
                    if not (expired or overran):
                        continue
                    if job.status == IN_QUEUE:
                        ep.queue.remove(job.id)
                    else:
                        self._signal_stop(ep, job)
                    delivery = self._finish(ep, job, TIMED_OUT, now)
                    if delivery:
                        deliveries.append(delivery)
                    changed = True
                for worker in list(ep.workers.values()):
                    if self._alive(worker, now):
                        continue
                    for job_id in worker.holding:
                        held = ep.jobs.get(job_id)
                        if (
                            held is None
                            or held.status != IN_PROGRESS
                            or held.worker_id != worker.id
                        ):
                            continue
                        if held.retries < self.config.max_worker_loss_retries:
                            held.retries += 1
                            ep.retried += 1
                            held.status, held.worker_id, held.started_at = IN_QUEUE, None, None
                            held.stream.clear()
                            held.stream_read = 0
                            # It was submitted before anything still queued: keep FIFO order.
                            ep.queue.appendleft(held.id)
                        else:
                            delivery = self._finish(
                                ep, held, FAILED, now, error=f"worker {worker.id} was lost"
                            )
                            if delivery:
                                deliveries.append(delivery)
                    del ep.workers[worker.id]
                    changed = True
            if changed:
                self.cond.notify_all()
        self._deliver(deliveries)

    def _deliver(self, deliveries: list[_Delivery]) -> None:
        # Never on the caller's thread: a slow webhook receiver must not delay the worker's
        # result post (or any other request).
        for url, payload in deliveries:
            threading.Thread(
                target=_post_webhook,
                args=(
                    url,
                    payload,
                    self.config.webhook_retry_delays,
                    self.config.webhook_timeout_s,
                ),
                name=f"webhook-{payload['id']}",
                daemon=True,
            ).start()


def _post_webhook(
    url: str, payload: dict[str, Any], retry_delays: Sequence[float], timeout_s: float
) -> None:
    attempts = len(retry_delays) + 1
    for attempt in range(attempts):
        try:
            response = httpx.post(url, json=payload, timeout=timeout_s)
            if response.is_success:
                return
            reason = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            reason = repr(exc)
        log.warning(
            "webhook %s for job %s failed (attempt %d/%d): %s",
            url,
            payload["id"],
            attempt + 1,
            attempts,
            reason,
        )
        if attempt < len(retry_delays):
            time.sleep(retry_delays[attempt])


# ---------------------------------------------------------------------------- flask app


def _error(status: int, message: str) -> flask.Response:
    response = flask.jsonify({"error": message})
    response.status_code = status
    return response


def _json(status: int, body: Any) -> flask.Response:
    response = flask.jsonify(body)
    response.status_code = status
    return response


def _positive_ms(policy: dict[str, Any], key: str) -> int | None:
    value = policy.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"policy.{key} must be a positive number of milliseconds")
    return int(value)


@dataclass
class _Faults:
    """Test-only fault injection (`POST /_test/faults`): hosted RunPod's bad days, on demand.

    `status`: "ok" | "error" (503) | "hang" (no answer for `hang_s`, then 503), for the
    status and cancel routes. `run`: "ok" | "land_then_error" | "land_then_hang": /run
    queues the job, then answers 500 (or hangs first), `run_times` times.
    """

    status: str = "ok"
    run: str = "ok"
    run_times: int = 0
    hang_s: float = 30.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_run_fault(self) -> str:
        with self.lock:
            if self.run == "ok" or self.run_times <= 0:
                return "ok"
            self.run_times -= 1
            return self.run


def create_app(
    api_key: str, endpoints: list[str], config: ServerConfig | None = None
) -> flask.Flask:
    """Build the WSGI app; its :class:`ControlPlane` is ``app.extensions["relay_runpod_local"]``.

    Call ``plane.close()`` when done to stop its reaper thread and release held long-polls.
    """
    plane = ControlPlane(api_key, endpoints, config)
    app = flask.Flask(__name__)
    app.extensions[EXTENSION_KEY] = plane
    faults = _Faults()

    def status_fault() -> flask.Response | None:
        if faults.status == "hang":
            time.sleep(faults.hang_s)
        if faults.status in ("error", "hang"):
            return _error(503, "upstream unavailable (injected)")
        return None

    def guarded(view: Callable[..., flask.Response]) -> Callable[..., flask.Response]:
        """Check the key first (401 beats 404, like hosted), then resolve the endpoint."""

        @wraps(view)
        def wrapper(endpoint_id: str, **kwargs: Any) -> flask.Response:
            if not plane.check_key(flask.request.headers.get("Authorization")):
                return _error(401, "Unauthorized")
            ep = plane.endpoints.get(endpoint_id)
            if ep is None:
                return _error(404, f"endpoint {endpoint_id} not found")
            return view(ep, **kwargs)

        return wrapper

    def parse_submission() -> tuple[Any, str | None, int | None, int | None]:
        try:
            body = json.loads(flask.request.get_data() or b"null")
        except ValueError as exc:
            raise ValueError(f"malformed JSON body: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        if body.get("input") is None:
            raise ValueError("missing 'input'")
        webhook = body.get("webhook")
        if webhook is not None and (
            not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))
        ):
            raise ValueError("'webhook' must be an http(s) URL")
        policy = body.get("policy") or {}
        if not isinstance(policy, dict):
            raise ValueError("'policy' must be an object")
        return (
            body["input"],
            webhook,
            _positive_ms(policy, "executionTimeout"),
            _positive_ms(policy, "ttl"),
        )

    def parse_worker_body() -> dict[str, Any]:
        # The SDK posts JSON labelled application/x-www-form-urlencoded, so read the raw bytes
        # and never let Flask's form parser consume them.
        body = json.loads(flask.request.get_data(parse_form_data=False) or b"{}")
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    # -- client API ---------------------------------------------------------------------

    @app.post("/v2/<endpoint_id>/run")
    @guarded
    def run(ep: _Endpoint) -> flask.Response:
        try:
            job_input, webhook, execution_timeout, ttl = parse_submission()
        except ValueError as exc:
            return _error(400, str(exc))
        job = plane.submit(ep, job_input, webhook, execution_timeout, ttl, sync=False)
        fault = faults.take_run_fault()
        if fault == "land_then_hang":
            time.sleep(faults.hang_s)
        if fault != "ok":
            return _error(500, "internal error after queueing (injected)")
        return _json(200, {"id": job.id, "status": IN_QUEUE})

    @app.post("/v2/<endpoint_id>/runsync")
    @guarded
    def runsync(ep: _Endpoint) -> flask.Response:
        try:
            job_input, webhook, execution_timeout, ttl = parse_submission()
            wait_ms = int(flask.request.args.get("wait", RUNSYNC_DEFAULT_WAIT_MS))
        except ValueError as exc:
            return _error(400, str(exc))
        wait_ms = min(max(wait_ms, 0), RUNSYNC_MAX_WAIT_MS)
        job = plane.submit(ep, job_input, webhook, execution_timeout, ttl, sync=True)
        return _json(200, plane.wait_for(ep, job.id, wait_ms / 1000))

    @app.route("/v2/<endpoint_id>/status/<job_id>", methods=["GET", "POST"])
    @guarded
    def status(ep: _Endpoint, job_id: str) -> flask.Response:
        fault = status_fault()
        if fault is not None:
            return fault
        body = plane.view(ep, job_id)
        return _error(404, "request does not exist") if body is None else _json(200, body)

    @app.route("/v2/<endpoint_id>/stream/<job_id>", methods=["GET", "POST"])
    @guarded
    def stream(ep: _Endpoint, job_id: str) -> flask.Response:
        body = plane.read_stream(ep, job_id)
        return _error(404, "request does not exist") if body is None else _json(200, body)

    @app.post("/v2/<endpoint_id>/cancel/<job_id>")
    @guarded
    def cancel(ep: _Endpoint, job_id: str) -> flask.Response:
        fault = status_fault()
        if fault is not None:
            return fault
        body = plane.cancel(ep, job_id)
        return _error(404, "request does not exist") if body is None else _json(200, body)

    @app.post("/v2/<endpoint_id>/retry/<job_id>")
    @guarded
    def retry(ep: _Endpoint, job_id: str) -> flask.Response:
        body = plane.retry(ep, job_id)
        if body is None:
            return _error(404, "request does not exist")
        return _error(400, body) if isinstance(body, str) else _json(200, body)

    @app.post("/v2/<endpoint_id>/purge-queue")
    @guarded
    def purge_queue(ep: _Endpoint) -> flask.Response:
        return _json(200, plane.purge_queue(ep))

    @app.get("/v2/<endpoint_id>/health")
    @guarded
    def health(ep: _Endpoint) -> flask.Response:
        return _json(200, plane.health(ep))

    # -- test-only knobs (no hosted counterpart) ---------------------------------------

    @app.post("/_test/faults")
    def set_faults() -> flask.Response:
        if not plane.check_key(flask.request.headers.get("Authorization")):
            return _error(401, "Unauthorized")
        body = flask.request.get_json(silent=True) or {}
        with faults.lock:
            faults.status = str(body.get("status", "ok"))
            faults.run = str(body.get("run", "ok"))
            faults.run_times = int(body.get("run_times", 1 if faults.run != "ok" else 0))
            faults.hang_s = float(body.get("hang_s", 30.0))
        return _json(200, {"status": faults.status, "run": faults.run})

    @app.get("/v2/<endpoint_id>/_test/jobs")
    @guarded
    def list_jobs(ep: _Endpoint) -> flask.Response:
        """Every job the endpoint knows (hosted RunPod has no such list)."""
        with plane.cond:
            listed = [
                {"id": j.id, "status": j.status, "webhook": j.webhook, "input": j.input}
                for j in ep.jobs.values()
            ]
        return _json(200, {"jobs": listed})

    # -- worker API (what runpod.serverless.start talks to) -----------------------------

    def job_take(ep: _Endpoint, worker_id: str, batch: bool) -> flask.Response:
        args = flask.request.args
        try:
            size = int(args.get("batch_size", "1")) if batch else 1
        except ValueError:
            return _error(400, "batch_size must be an integer")
        jobs = plane.take_jobs(
            ep,
            worker_id,
            min(max(size, 1), MAX_BATCH_SIZE),
            job_in_progress=args.get("job_in_progress") == "1",
        )
        if not jobs:
            # The SDK reads 204 as "no job" and immediately polls again.
            return flask.Response(status=204)
        return _json(200, jobs if batch else jobs[0])

    @app.get("/v2/<endpoint_id>/job-take/<worker_id>")
    @guarded
    def job_take_single(ep: _Endpoint, worker_id: str) -> flask.Response:
        return job_take(ep, worker_id, batch=False)

    @app.get("/v2/<endpoint_id>/job-take-batch/<worker_id>")
    @guarded
    def job_take_batch(ep: _Endpoint, worker_id: str) -> flask.Response:
        return job_take(ep, worker_id, batch=True)

    @app.get("/v2/<endpoint_id>/job-stop/<worker_id>")
    @guarded
    def job_stop(ep: _Endpoint, worker_id: str) -> flask.Response:
        signals = plane.take_stop_signals(ep, worker_id)
        return _json(200, {"jobsToStop": signals}) if signals else flask.Response(status=204)

    @app.post("/v2/<endpoint_id>/job-done/<worker_id>/<job_id>")
    @guarded
    def job_done(ep: _Endpoint, worker_id: str, job_id: str) -> flask.Response:
        try:
            result = parse_worker_body()
        except ValueError as exc:
            return _error(400, f"bad result body: {exc}")
        return _json(*plane.job_done(ep, worker_id, job_id, result))

    @app.post("/v2/<endpoint_id>/job-stream/<worker_id>/<job_id>")
    @guarded
    def job_stream(ep: _Endpoint, worker_id: str, job_id: str) -> flask.Response:
        try:
            chunk = parse_worker_body()
        except ValueError as exc:
            return _error(400, f"bad stream body: {exc}")
        return _json(*plane.job_stream(ep, worker_id, job_id, chunk))

    @app.get("/v2/<endpoint_id>/ping/<worker_id>")
    @guarded
    def ping(ep: _Endpoint, worker_id: str) -> flask.Response:
        args = flask.request.args
        job_ids = {j for j in ",".join(args.getlist("job_id")).split(",") if j}
        plane.ping(
            ep,
            worker_id,
            job_ids,
            args.get("runpod_version"),
            unhealthy=args.get("status") == "unhealthy",
        )
        return _json(200, {})

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> flask.Response:
        return _error(404, "not found")

    @app.errorhandler(405)
    def method_not_allowed(_exc: Exception) -> flask.Response:
        return _error(405, "method not allowed")

    return app


def worker_env(
    base_url: str,
    endpoint_id: str,
    api_key: str,
    worker_id: str,
    *,
    ping_interval_ms: int = 5000,
    skip_fitness_checks: bool = True,
) -> dict[str, str]:
    """Env vars that point a real ``runpod.serverless.start`` worker at this server.

    The placeholders are left for the SDK to substitute, as on hosted RunPod: ``$ID`` in the
    job-take URL is the worker id, in the job-done/stream URLs it is the job id, and
    ``$RUNPOD_POD_ID`` is the worker id. Each URL already carries a query string because the SDK
    appends ``&job_in_progress=``/``&isStream=``/``&batch_size=`` without a ``?``.

    Callers may add ``RUNPOD_LOG_LEVEL`` (the SDK defaults to DEBUG). Note the SDK prefers an
    ``api_key`` from ``~/.runpod/config.toml`` over ``RUNPOD_AI_API_KEY`` for job traffic, so
    point ``HOME`` elsewhere if that file may exist.
    """
    if ping_interval_ms < 1000:
        # The SDK sleeps interval // 1000 seconds: below 1 s it would ping in a tight loop.
        raise ValueError("ping_interval_ms must be at least 1000")
    v2 = f"{base_url.rstrip('/')}/v2/{endpoint_id}"
    env = {
        "RUNPOD_WEBHOOK_GET_JOB": f"{v2}/job-take/$ID?gpu=local",
        "RUNPOD_WEBHOOK_POST_OUTPUT": f"{v2}/job-done/$RUNPOD_POD_ID/$ID?gpu=local",
        "RUNPOD_WEBHOOK_POST_STREAM": f"{v2}/job-stream/$RUNPOD_POD_ID/$ID?gpu=local",
        "RUNPOD_WEBHOOK_PING": f"{v2}/ping/$RUNPOD_POD_ID?gpu=local",
        "RUNPOD_PING_INTERVAL": str(ping_interval_ms),
        "RUNPOD_AI_API_KEY": api_key,
        "RUNPOD_POD_ID": worker_id,
        "RUNPOD_POD_HOSTNAME": worker_id,
        "RUNPOD_ENDPOINT_ID": endpoint_id,
    }
    if skip_fitness_checks:
        # The SDK's start-up fitness checks os._exit(1) the worker when they fail; the system set
        # needs 4 GB free RAM and a TCP connection to 8.8.8.8:53, which offline CI does not have.
        env["RUNPOD_SKIP_AUTO_SYSTEM_CHECKS"] = "true"
        env["RUNPOD_SKIP_GPU_CHECK"] = "true"
    return env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.runpod_server",
        description="Local RunPod serverless control plane (client + worker APIs).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8189, help="0 picks a free port")
    parser.add_argument("--api-key", required=True)
    parser.add_argument(
        "--endpoints", required=True, help="comma-separated endpoint ids, e.g. z-image-turbo,flux"
    )
    defaults = ServerConfig()
    parser.add_argument("--long-poll-s", type=float, default=defaults.long_poll_s)
    parser.add_argument("--worker-ttl-s", type=float, default=defaults.worker_ttl_s)
    parser.add_argument(
        "--execution-timeout-ms", type=int, default=defaults.default_execution_timeout_ms
    )
    parser.add_argument("--ttl-ms", type=int, default=defaults.default_ttl_ms)
    parser.add_argument(
        "--webhook-retry-delays",
        type=parse_delays,
        default=defaults.webhook_retry_delays,
        help="comma-separated seconds between webhook attempts (default 1,2 = 3 attempts)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    configure_logging(access_log=args.access_log)

    config = ServerConfig(
        long_poll_s=args.long_poll_s,
        worker_ttl_s=args.worker_ttl_s,
        default_execution_timeout_ms=args.execution_timeout_ms,
        default_ttl_ms=args.ttl_ms,
        webhook_retry_delays=args.webhook_retry_delays,
    )
    endpoints = [ep.strip() for ep in args.endpoints.split(",") if ep.strip()]
    app = create_app(args.api_key, endpoints, config)
    plane: ControlPlane = app.extensions[EXTENSION_KEY]
    return serve_until_signalled(
        app,
        host=args.host,
        port=args.port,
        name="runpod-local",
        close=plane.close,
        banner=f" endpoints={','.join(endpoints)}",
    )


if __name__ == "__main__":
    sys.exit(main())
