"""The grid-worker loop: register, long-poll for a job, run it on the backend, report it.

Invariants:
- A job this worker starts is reported once (retries of that one report aside): `/result`
  with the backend's real
  token counts and the model that ran it, or `/fail` with a reason the client can read
  (backend error, model not available, or "worker shutting down"). A report that cannot
  be delivered (grid unreachable past its deadline, or the grid refuses it because the job
  already timed out) is logged and dropped; the grid's sweep then settles the job.
- Shutdown (`request_shutdown`, wired to SIGTERM/SIGINT) is safe to call from a signal
  handler: it only assigns attributes (no locks, no logging). After the first request no new
  poll starts and a poll in flight is abandoned (should the grid have claimed a job for it
  at that instant, the sweep re-queues the silent claim); a running job gets until
  `shutdown_grace_s` after that first request to finish and be reported, otherwise it is
  reported failed. A second request ends the grace at once. Either way `run` returns 0.
- The main thread never blocks longer than `TICK_S` at a time while it waits on the grid
  or the backend outside a report: registration, polls, backend checks and generations
  run on daemon threads, so a shutdown is noticed within a tick, and an uninterruptible
  generation can be left behind (`abandoned_generation`) without delaying the exit.
  Reports (start/result/fail) are made on the main thread, bounded by their deadlines.
- Network errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter
  (1 s doubling to 60 s, reset by a success); 401/403 stop the agent with exit code 2.
- While a job runs, a background thread sends `PATCH /worker/heartbeat` every
  `heartbeat_interval_s` (polls count as heartbeats on the grid, so an idle worker needs none).
- The backend runs one job at a time, and never a model it did not list.
"""

from __future__ import annotations

import logging
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from gpu_handlers.runtimes.grid.backend import (
    BackendError,
    BackendUnavailable,
    Generation,
    TextBackend,
)
from gpu_handlers.runtimes.grid.client import (
    AGENT_VERSION,
    GridAuthError,
    GridClient,
    GridError,
    GridRejected,
    GridUnavailable,
    JobAssignment,
    JobResult,
    ModelEntry,
    Registration,
)
from gpu_handlers.runtimes.grid.families import choose_model, find_model, model_family
from gpu_handlers.runtimes.grid.waiting import BackgroundCall, Backoff, run_in_background

log = logging.getLogger("grid_worker")

EXIT_OK = 0
EXIT_CONFIG = 2  # the key was refused, or the backend cannot serve what was asked

TICK_S = 0.1
SHUTDOWN_ERROR = "worker shutting down"
MAX_ERROR_CHARS = 2000

T = TypeVar("T")


class ConfigError(Exception):
    """The agent cannot run as configured (retrying will not help)."""


def default_platform() -> str:
    """`os/arch` in Go's spelling, as the document's example (`darwin/arm64`) uses."""
    os_name = {"win32": "windows", "cygwin": "windows"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine or "unknown")
    return f"{os_name}/{arch}"


@dataclass(frozen=True)
class AgentConfig:
    name: str
    models: tuple[str, ...] = ()  # advertise these; empty = every model the backend has
    serves_family: bool = False
    catch_all: bool = False
    max_new_tokens: int = 1024
    shutdown_grace_s: float = 30.0
    heartbeat_interval_s: float = 30.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    report_deadline_s: float = 300.0  # how long a report is retried while running normally
    shutdown_report_s: float = 10.0  # ...and how long once shutting down (after the grace)
    platform: str = field(default_factory=default_platform)
    agent_version: str = AGENT_VERSION


class GridAgent:
    """One worker: `run()` until `request_shutdown()`."""

    def __init__(self, config: AgentConfig, *, backend: TextBackend, client: GridClient) -> None:
        self.config = config
        self.backend = backend
        self.client = client
        self.served: tuple[str, ...] = ()
        self.jobs_completed = 0
        self.jobs_failed = 0
        self.abandoned_generation = False
        self._stop_requests = 0
        self._stop_at: float | None = None
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self._backend_down = False

    # -- shutdown --------------------------------------------------------------------------

    def request_shutdown(self) -> None:
        """Begin a graceful shutdown; a second call ends the grace period at once.

        Signal-handler safe: plain assignments only (a lock taken here could deadlock
        against the interrupted main thread).
        """
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        self._stop_requests += 1

    @property
    def stopping(self) -> bool:
        return self._stop_requests > 0

    def _grace_deadline(self) -> float | None:
        """When a running job must be given up; None while not shutting down."""
        if self._stop_at is None:
            return None
        if self._stop_requests > 1:
            return self._stop_at
        return self._stop_at + self.config.shutdown_grace_s

    def _sleep(self, seconds: float) -> None:
        """Sleep, waking early if a shutdown is requested."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(TICK_S, left))

    def _until_shutdown(self, fn: Callable[[], T], *, name: str) -> BackgroundCall[T] | None:
        """`fn` on a daemon thread, given up as soon as a shutdown is requested."""
        return run_in_background(fn, name=name, give_up_at=lambda: self._stop_at, tick_s=TICK_S)

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        """Serve jobs until shut down; the process exit code."""
        try:
            available = self._backend_models()
            if available is None:
                return EXIT_OK
            self.served = self._advertised(available)
            if not self._register():
                return EXIT_OK
            while not self.stopping:
                job = self._next_job()
                if job is not None:
                    self._run_job(job)
        except GridAuthError as exc:
            log.error("the grid refused this worker's API key: %s", exc)
            return EXIT_CONFIG
        except ConfigError as exc:
            log.error("%s", exc)
            return EXIT_CONFIG
        log.info("stopped (%d jobs completed, %d failed)", self.jobs_completed, self.jobs_failed)
        return EXIT_OK

    def _backend_models(self) -> list[str] | None:
        """The backend's models, waiting (with backoff) until it answers; None if stopped."""
        while not self.stopping:
            call = self._until_shutdown(self.backend.models, name="backend-models")
            if call is None:
                return None
            try:
                models = call.result()
            except BackendError as exc:
                delay = self._backoff.next_delay()
                log.warning("backend not ready (%s); retrying in %.1fs", exc, delay)
                self._sleep(delay)
                continue
            self._backoff.reset()
            return models
        return None

    def _advertised(self, available: list[str]) -> tuple[str, ...]:
        if not self.config.models:
            if not available:
                raise ConfigError("the backend has no models to serve")
            return tuple(available)
        chosen: list[str] = []
        for wanted in self.config.models:
            local = find_model(wanted, available)
            if local is None:
                have = ", ".join(available) or "none"
                raise ConfigError(
                    f"model {wanted!r} is not available in the backend (have: {have})"
                )
            chosen.append(local)
        return tuple(dict.fromkeys(chosen))

    def _families(self) -> list[str]:
        if not self.config.serves_family:
            return []
        return sorted({model_family(m) for m in self.served})

    def _register(self) -> bool:
        registration = Registration(
            name=self.config.name,
            agent_version=self.config.agent_version,
            platform=self.config.platform,
            models=tuple(ModelEntry(m, self.config.serves_family) for m in self.served),
            catch_all=self.config.catch_all,
        )
        while not self.stopping:
            call = self._until_shutdown(
                lambda: self.client.register(registration), name="grid-register"
            )
            if call is None:
                return False
            try:
                registered = call.result()
            except GridUnavailable as exc:
                delay = self._backoff.next_delay()
                log.warning("register failed (%s); retrying in %.1fs", exc, delay)
                self._sleep(delay)
                continue
            except GridRejected as exc:
                raise ConfigError(f"the grid rejected the registration: {exc}") from exc
            self._backoff.reset()
            log.info(
                "registered as worker %s (%s) serving %s%s%s",
                registered.worker_id,
                self.config.name,
                ", ".join(self.served),
                " and their families" if self.config.serves_family else "",
                " plus any job (catch-all)" if self.config.catch_all else "",
            )
            return True
        return False

    def _next_job(self) -> JobAssignment | None:
        if self._backend_down and not self._backend_is_back():
            return None
        models, families, catch_all = list(self.served), self._families(), self.config.catch_all
        call = self._until_shutdown(
            lambda: self.client.next_job(models=models, families=families, catch_all=catch_all),
            name="grid-poll",
        )
        if call is None:
            log.info("shutdown requested; stopped polling")
            return None
        try:
            job = call.result()
        except (GridUnavailable, GridRejected) as exc:
            delay = self._backoff.next_delay()
            log.warning("polling for jobs failed (%s); retrying in %.1fs", exc, delay)
            self._sleep(delay)
            return None
        self._backoff.reset()
        return job

    def _backend_is_back(self) -> bool:
        call = self._until_shutdown(self.backend.models, name="backend-models")
        if call is None:
            return False
        try:
            call.result()
        except BackendError as exc:
            delay = self._backoff.next_delay()
            log.warning("backend still unavailable (%s); checking again in %.1fs", exc, delay)
            self._sleep(delay)
            return False
        log.info("backend is available again; taking jobs")
        self._backend_down = False
        self._backoff.reset()
        return True

    # -- one job ---------------------------------------------------------------------------

    def _run_job(self, job: JobAssignment) -> None:
        log.info("job %s: claimed (model=%s, match=%s)", job.job_id, job.model, job.model_match)
        if not self._deliver(job, "start", lambda: self.client.start(job.job_id)):
            return  # the grid re-queues or times out a claim that never started
        model = choose_model(requested=job.model, match=job.model_match, local_models=self.served)
        if model is None:
            self._report_failure(job, f"model {job.model!r} is not available on this worker")
            return
        if job.blobs:
            log.info(
                "job %s: %d attachment(s) ignored (text-only backend)", job.job_id, len(job.blobs)
            )

        done = threading.Event()
        threading.Thread(
            target=self._heartbeats, args=(done,), name="heartbeat", daemon=True
        ).start()
        try:
            call = run_in_background(
                lambda: self.backend.generate(
                    model, job.prompt, max_new_tokens=self.config.max_new_tokens
                ),
                name=f"job-{job.job_id}",
                give_up_at=self._grace_deadline,
                tick_s=TICK_S,
            )
        finally:
            done.set()
        if call is None:
            self.abandoned_generation = True
            log.warning("job %s: not finished within the shutdown grace period", job.job_id)
            self._report_failure(job, SHUTDOWN_ERROR)
            return
        try:
            generation = call.result()
        except BackendUnavailable as exc:
            self._backend_down = True  # stop taking jobs until the backend answers again
            self._report_failure(job, f"backend unavailable: {exc}")
        except BackendError as exc:
            self._report_failure(job, str(exc) or type(exc).__name__)
        except Exception as exc:
            log.exception("job %s: the backend crashed", job.job_id)
            self._report_failure(job, f"{type(exc).__name__}: {exc}")
        else:
            self._report_result(job, model, generation)

    def _heartbeats(self, done: threading.Event) -> None:
        while not done.wait(self.config.heartbeat_interval_s):
            try:
                self.client.heartbeat()
            except GridError as exc:  # the next poll or report will surface a real problem
                log.warning("heartbeat failed: %s", exc)

    def _report_result(self, job: JobAssignment, model: str, generation: Generation) -> None:
        result = JobResult(
            output=generation.text,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens,
            duration_ms=generation.duration_ms,
            model_used=model,
        )
        if self._deliver(job, "result", lambda: self.client.submit_result(job.job_id, result)):
            self.jobs_completed += 1
            log.info(
                "job %s: completed on %s (%d input / %d output tokens, %d ms)",
                job.job_id,
                model,
                generation.input_tokens,
                generation.output_tokens,
                generation.duration_ms,
            )

    def _report_failure(self, job: JobAssignment, error: str) -> None:
        error = error[:MAX_ERROR_CHARS]
        if self._deliver(job, "fail", lambda: self.client.fail(job.job_id, error)):
            self.jobs_failed += 1
            log.info("job %s: reported failed: %s", job.job_id, error)

    def _deliver(self, job: JobAssignment, what: str, send: Callable[[], None]) -> bool:
        """Send one job call, retrying while the grid is unavailable; True once accepted."""
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        first_try = time.monotonic()
        while True:
            try:
                send()
                return True
            except GridRejected as exc:
                log.warning("job %s: the grid refused %s: %s", job.job_id, what, exc)
                return False
            except GridUnavailable as exc:
                deadline = self._report_deadline(first_try)
                delay = min(backoff.next_delay(), deadline - time.monotonic())
                if delay <= 0:
                    log.error("job %s: giving up on %s: %s", job.job_id, what, exc)
                    return False
                log.warning(
                    "job %s: %s failed (%s); retrying in %.1fs", job.job_id, what, exc, delay
                )
                # Not cut short by a shutdown (delivering is the point), but a shutdown may
                # bring the deadline closer, so it is re-read every tick.
                wake = time.monotonic() + delay
                while time.monotonic() < min(wake, self._report_deadline(first_try)):
                    time.sleep(TICK_S)

    def _report_deadline(self, first_try: float) -> float:
        deadline = first_try + self.config.report_deadline_s
        grace = self._grace_deadline()
        if grace is not None:
            deadline = min(deadline, max(first_try, grace) + self.config.shutdown_report_s)
        return deadline
