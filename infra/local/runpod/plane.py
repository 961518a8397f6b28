"""The in-memory queue, job table and worker registry of the local RunPod control plane.

Every read and change happens under one condition variable (``cond``): long-polls wait on it and
every state change notifies it. Jobs of an endpoint are handed out FIFO, each to exactly one
worker at a time; a result is accepted once, and only from the worker the job is assigned to.
Webhooks are sent after the lock is released, never on the caller's thread. A reaper thread
applies timeouts, requeues the jobs of dead workers and drops expired results.
"""

import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from infra.local.runpod.store import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    IN_QUEUE,
    RUN_RETENTION_S,
    RUNSYNC_RETENTION_S,
    TERMINAL_STATUSES,
    TIMED_OUT,
    UNSET,
    Delivery,
    Endpoint,
    Job,
    ServerConfig,
    Worker,
)
from infra.local.runpod.webhooks import deliver

log = logging.getLogger("relay.runpod_local")


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
        self.endpoints = {ep: Endpoint(ep) for ep in endpoints if ep}
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
        ep: Endpoint,
        job_input: Any,
        webhook: str | None,
        execution_timeout_ms: int | None,
        ttl_ms: int | None,
        sync: bool,
    ) -> Job:
        now = self._clock()
        job = Job(
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

    def view(self, ep: Endpoint, job_id: str) -> dict[str, Any] | None:
        with self.cond:
            job = ep.jobs.get(job_id)
            return None if job is None else job.view(self._clock())

    def wait_for(self, ep: Endpoint, job_id: str, wait_s: float) -> dict[str, Any] | None:
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

    def read_stream(self, ep: Endpoint, job_id: str) -> dict[str, Any] | None:
        with self.cond:
            job = ep.jobs.get(job_id)
            if job is None:
                return None
            # Like hosted /stream, each chunk is handed out once.
            chunks = job.stream[job.stream_read :]
            job.stream_read = len(job.stream)
            return {"id": job.id, "status": job.status, "stream": chunks}

    def cancel(self, ep: Endpoint, job_id: str) -> dict[str, Any] | None:
        with self.cond:
            job = ep.jobs.get(job_id)
            if job is None:
                return None
            now = self._clock()
            if job.status == IN_QUEUE:
                ep.queue.remove(job.id)
                ep.finish(job, CANCELLED, now)
            elif job.status == IN_PROGRESS:
                ep.finish(job, CANCELLED, now)
                ep.signal_stop(job)
            self.cond.notify_all()
            return {"id": job.id, "status": job.status}

    def retry(self, ep: Endpoint, job_id: str) -> dict[str, Any] | str | None:
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
            job.output, job.error = UNSET, None
            job.stream.clear()
            job.stream_read = 0
            ep.retried += 1
            ep.queue.append(job.id)
            self.cond.notify_all()
            return {"id": job.id, "status": job.status}

    def purge_queue(self, ep: Endpoint) -> dict[str, Any]:
        with self.cond:
            now = self._clock()
            removed = 0
            while ep.queue:
                ep.finish(ep.jobs[ep.queue.popleft()], CANCELLED, now)
                removed += 1
            self.cond.notify_all()
            return {"removed": removed, "status": "completed"}

    def health(self, ep: Endpoint) -> dict[str, Any]:
        with self.cond:
            now = self._clock()
            counts = dict.fromkeys(("idle", "initializing", "running", "unhealthy"), 0)
            for worker in ep.workers.values():
                if not worker.alive(now, self.config.worker_ttl_s):
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
        self, ep: Endpoint, worker_id: str, max_jobs: int, job_in_progress: bool
    ) -> list[dict[str, Any]]:
        """Long-poll for up to ``max_jobs`` queued jobs and assign them to the worker."""
        deadline = self._clock() + self.config.long_poll_s
        with self.cond:
            worker = self._touch(ep, worker_id)
            worker.has_polled = True
            if not job_in_progress:
                ep.release_stale(worker, still_running=set())
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

    def take_stop_signals(self, ep: Endpoint, worker_id: str) -> list[str]:
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
        self, ep: Endpoint, worker_id: str, job_id: str, result: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        deliveries: list[Delivery] = []
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
            delivery = ep.finish(
                job,
                status,
                self._clock(),
                output=result.get("output", UNSET),
                error=error if error else None,
            )
            if delivery:
                deliveries.append(delivery)
            self.cond.notify_all()
        self._deliver(deliveries)
        return 200, {"accepted": True, "status": status}

    def job_stream(
        self, ep: Endpoint, worker_id: str, job_id: str, chunk: dict[str, Any]
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
        ep: Endpoint,
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
            ep.release_stale(worker, still_running=job_ids)
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

    def _touch(self, ep: Endpoint, worker_id: str) -> Worker:
        now = self._clock()
        worker = ep.workers.get(worker_id)
        if worker is None:
            worker = ep.workers[worker_id] = Worker(worker_id, now)
        worker.last_seen = now
        return worker

    def _reap_loop(self) -> None:
        while not self._closed.wait(self.config.reap_interval_s):
            try:
                self.reap()
            except Exception:  # the reaper must outlive any bug in one pass
                log.exception("runpod-local reaper pass failed")

    def reap(self) -> None:
        """Apply timeouts, requeue jobs of dead workers and drop expired results."""
        deliveries: list[Delivery] = []
        with self.cond:
            now = self._clock()
            changed = False
            for ep in self.endpoints.values():
                ep_changed, ep_deliveries = ep.reap(
                    now,
                    worker_ttl_s=self.config.worker_ttl_s,
                    max_worker_loss_retries=self.config.max_worker_loss_retries,
                )
                changed = changed or ep_changed
                deliveries.extend(ep_deliveries)
            if changed:
                self.cond.notify_all()
        self._deliver(deliveries)

    def _deliver(self, deliveries: list[Delivery]) -> None:
        # Never on the caller's thread: a slow webhook receiver must not delay the worker's
        # result post (or any other request).
        deliver(deliveries, self.config)
