"""Test helpers for the local RunPod control plane's fault knobs and job list."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx

from shared.engine import jobs
from shared.engine.jobs import JobCreate, JobRecord
from tests.stack_fixture import IDLE_MODEL

RUNPOD_AUTH = {"Authorization": "Bearer local-runpod-key"}


def runpod_url(stack: Any) -> str:
    return f"http://127.0.0.1:{stack.ports['runpod']}"


def set_faults(stack: Any, **faults: Any) -> None:
    response = httpx.post(
        f"{runpod_url(stack)}/_test/faults", json=faults, headers=RUNPOD_AUTH, timeout=10
    )
    response.raise_for_status()


@contextlib.contextmanager
def faults(stack: Any, **knobs: Any) -> Iterator[None]:
    set_faults(stack, **knobs)
    try:
        yield
    finally:
        set_faults(stack)


def runs_for(stack: Any, job_id: str) -> list[dict[str, Any]]:
    """The RunPod runs (on the idle endpoint) whose webhook names this job."""
    response = httpx.get(
        f"{runpod_url(stack)}/v2/{IDLE_MODEL}/_test/jobs", headers=RUNPOD_AUTH, timeout=10
    )
    response.raise_for_status()
    return [j for j in response.json()["jobs"] if f"job={job_id}&" in (j["webhook"] or "")]


def idle_create(account_id: str, micros: int = 10_000, **extra: Any) -> JobCreate:
    """A job for the RunPod endpoint with no workers: once dispatched, it waits there."""
    return JobCreate(
        account_id=account_id,
        site="pics",
        model=IDLE_MODEL,
        backend="runpod",
        input={"prompt": "x"},
        price_micros=micros,
        **extra,
    )


def wait_dispatched(job_id: str, timeout: float = 30.0) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.get(job_id)
        if job.backend_job_id:
            return job
        time.sleep(0.1)
    raise AssertionError("job was not dispatched")
