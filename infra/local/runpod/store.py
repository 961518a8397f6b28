"""State of the local RunPod control plane: jobs, workers and endpoints, and the rules that move
them between statuses. Nothing here locks; :class:`~infra.local.runpod.plane.ControlPlane` holds
its one lock around every call.

Invariants kept here: a job is in an endpoint's queue exactly while it is IN_QUEUE; a terminal
status (COMPLETED, FAILED, CANCELLED, TIMED_OUT) is set once, with ``finished_at``, and counted
once in the endpoint's totals; a webhook delivery is produced only for a job submitted with a
``webhook`` that reaches COMPLETED, FAILED or TIMED_OUT; a job held by a dead worker goes back to
the head of the queue at most ``max_worker_loss_retries`` times, then FAILS.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Any

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

UNSET: Any = object()


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
class Job:
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
    output: Any = UNSET
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
        if self.output is not UNSET:
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass
class Worker:
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

    def alive(self, now: float, ttl_s: float) -> bool:
        """Live while it has a request open or was heard from within ``ttl_s``."""
        return self.open_requests > 0 or now - self.last_seen <= ttl_s


Delivery = tuple[str, dict[str, Any]]


@dataclass
class Endpoint:
    id: str
    queue: deque[str] = field(default_factory=deque)
    jobs: dict[str, Job] = field(default_factory=dict)
    workers: dict[str, Worker] = field(default_factory=dict)
    completed: int = 0
    failed: int = 0
    retried: int = 0

    def finish(
        self,
        job: Job,
        status: str,
        now: float,
        output: Any = UNSET,
        error: Any = None,
    ) -> Delivery | None:
        job.status = status
        job.finished_at = now
        job.output = output
        job.error = error
        if status == COMPLETED:
            self.completed += 1
        elif status in (FAILED, TIMED_OUT):
            self.failed += 1
        if job.webhook and status in WEBHOOK_STATUSES:
            return job.webhook, job.view(now)
        return None

    def signal_stop(self, job: Job) -> None:
        worker = self.workers.get(job.worker_id or "")
        if worker is not None and job.id not in worker.stop:
            worker.stop.append(job.id)

    def release_stale(self, worker: Worker, *, still_running: set[str]) -> None:
        """Forget held jobs the worker no longer runs, unless they are still ours to finish.

        Only jobs already decided elsewhere (cancelled, timed out, reassigned) are released: the
        worker's own report of what it runs can lag a fresh assignment, so an active job stays
        held until its result arrives or the worker dies.
        """
        for job_id in list(worker.holding):
            job = self.jobs.get(job_id)
            active = job is not None and job.status == IN_PROGRESS and job.worker_id == worker.id
            if not active and job_id not in still_running:
                worker.holding.discard(job_id)

    def reap(
        self, now: float, *, worker_ttl_s: float, max_worker_loss_retries: int
    ) -> tuple[bool, list[Delivery]]:
        """Apply timeouts, requeue jobs of dead workers and drop expired results.

        Returns whether anything changed and the webhook deliveries that are now due.
        """
        deliveries: list[Delivery] = []
        changed = False
        for job in list(self.jobs.values()):
            if job.status in TERMINAL_STATUSES:
                if now - (job.finished_at or now) > job.retention_s:
                    del self.jobs[job.id]
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
                self.queue.remove(job.id)
            else:
                self.signal_stop(job)
            delivery = self.finish(job, TIMED_OUT, now)
            if delivery:
                deliveries.append(delivery)
            changed = True
        for worker in list(self.workers.values()):
            if worker.alive(now, worker_ttl_s):
                continue
            for job_id in worker.holding:
                held = self.jobs.get(job_id)
                if held is None or held.status != IN_PROGRESS or held.worker_id != worker.id:
                    continue
                if held.retries < max_worker_loss_retries:
                    held.retries += 1
                    self.retried += 1
                    held.status, held.worker_id, held.started_at = IN_QUEUE, None, None
                    held.stream.clear()
                    held.stream_read = 0
                    # It was submitted before anything still queued: keep FIFO order.
                    self.queue.appendleft(held.id)
                else:
                    delivery = self.finish(held, FAILED, now, error=f"worker {worker.id} was lost")
                    if delivery:
                        deliveries.append(delivery)
            del self.workers[worker.id]
            changed = True
        return changed, deliveries
