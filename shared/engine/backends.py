"""The Backend port: where a job's GPU work runs.

A backend accepts a job with a callback URL and later reports through that URL in
RunPod's webhook shape (`{"id", "status", "output" | "error"}`), so completion has one
code path whichever backend ran the job.

Only a definitive answer about a job is a status: FAILED, CANCELLED, TIMED_OUT, or
NOT_FOUND (the backend does not know the job). Anything that says nothing about the job
(a network error, a 5xx, auth 401/403, rate limit 429, a timeout) raises
`BackendUnavailable`, and whoever asked leaves the job as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from shared.engine.errors import AppError, ErrorKind

# Bounds for calls made by the engine's own loops (the sweep): a hung backend costs a
# sweep a few seconds, never its deadline.
DEFAULT_CALL_TIMEOUT_S = 10.0
# Statuses that end a job; NOT_FOUND: the backend has no such job (a 404 on status).
DEFINITIVE_FAILURES = frozenset({"FAILED", "CANCELLED", "TIMED_OUT", "NOT_FOUND"})


class BackendUnavailable(AppError):
    """The backend gave no answer about the job (network, 5xx, 401/403, 429, timeout):
    transient; the job stays as it is."""

    def __init__(self, message: str, *, timed_out: bool = False):
        super().__init__(ErrorKind.UNAVAILABLE, message)
        self.timed_out = timed_out  # no answer in time (as opposed to a refusal or an error)


@dataclass(frozen=True)
class WorkerHealth:
    reachable: bool
    ready_workers: int


@dataclass(frozen=True)
class BackendStatus:
    # RunPod words: IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED, TIMED_OUT; and
    # NOT_FOUND when the backend does not know the job.
    status: str
    output: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Callback:
    """Where and how a backend reports a job's end (shared/engine/dispatch.py)."""

    url: str  # the callback URL: the job id, no secret
    token: str  # sent as the X-Relay-Callback-Token header
    url_with_token: str  # for a sender that cannot set headers (RunPod's `webhook`)


class Backend(Protocol):
    """Every call names the job's `model` and, where a site chose it, its `endpoint` (a
    RunPod endpoint id, a Modal model name); without one the backend's configured address
    for the model is used."""

    name: str

    def submit(
        self,
        *,
        model: str,
        payload: dict[str, Any],
        callback: Callback,
        timeout_s: int,
        endpoint: str | None = None,
    ) -> str: ...

    def status(
        self,
        *,
        model: str,
        backend_job_id: str,
        timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        endpoint: str | None = None,
    ) -> BackendStatus: ...

    def cancel(
        self,
        *,
        model: str,
        backend_job_id: str,
        timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        endpoint: str | None = None,
    ) -> None: ...

    def health(self, *, model: str, endpoint: str | None = None) -> WorkerHealth: ...


def backend(name: str) -> Backend:
    from shared.providers.modal import ModalBackend
    from shared.providers.runpod import RunPodBackend

    if name == RunPodBackend.name:
        return RunPodBackend()
    if name == ModalBackend.name:
        return ModalBackend()
    raise ValueError(f"unknown backend {name!r}")
