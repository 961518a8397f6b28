"""The Backend port: where a job's GPU work runs.

A backend accepts a job with a callback URL and later reports through that URL in
RunPod's webhook shape (`{"id", "status", "output" | "error"}`), so completion has one
code path whichever backend ran the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class WorkerHealth:
    reachable: bool
    ready_workers: int


@dataclass(frozen=True)
class BackendStatus:
    status: str  # RunPod words: IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED, TIMED_OUT
    output: Any = None
    error: str | None = None


class Backend(Protocol):
    name: str

    def submit(
        self, *, model: str, payload: dict[str, Any], callback_url: str, timeout_s: int
    ) -> str: ...

    def status(self, *, model: str, backend_job_id: str) -> BackendStatus: ...

    def cancel(self, *, model: str, backend_job_id: str) -> None: ...

    def health(self, *, model: str) -> WorkerHealth: ...


def backend(name: str) -> Backend:
    from shared.providers.modal import ModalBackend
    from shared.providers.runpod import RunPodBackend

    if name == RunPodBackend.name:
        return RunPodBackend()
    if name == ModalBackend.name:
        return ModalBackend()
    raise ValueError(f"unknown backend {name!r}")
