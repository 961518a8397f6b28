"""The RunPod worker's scaler takes the next job as soon as one ends (not on a timer)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from runpod.serverless.modules import rp_scale

from gpu_handlers.runtimes import scaler


def run_worker(monkeypatch: pytest.MonkeyPatch, queued: list[dict[str, Any]]) -> list[str]:
    """Run an EventJobScaler against a stand-in job source until `queued` is drained;
    the ids of the jobs it handled, in order."""
    handled: list[str] = []
    worker: scaler.EventJobScaler

    async def take(session: Any, num_jobs: int) -> list[dict[str, Any]]:
        assert num_jobs == 1  # one job per GPU
        if not queued:
            worker.kill_worker()
            return []
        return [queued.pop(0)]

    async def handle(session: Any, config: Any, job: dict[str, Any]) -> None:
        handled.append(job["id"])
        await asyncio.sleep(0.01)

    async def no_stop_signals(session: Any) -> list[str]:
        await asyncio.sleep(0.05)
        return []

    monkeypatch.setattr(rp_scale, "get_job", take)
    monkeypatch.setattr(rp_scale, "handle_job", handle)
    monkeypatch.setattr(rp_scale, "get_stop_signals", no_stop_signals)
    worker = scaler.EventJobScaler({"handler": lambda job: {}})
    asyncio.run(asyncio.wait_for(worker.run(), timeout=20))
    return handled


def test_each_job_is_taken_when_the_previous_one_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the loops still waiting out their intervals (the SDK sleeps 1 s / 100 ms), five
    # jobs would take 5 minutes here and the run would time out after 20 s.
    monkeypatch.setattr(scaler, "ROOM_WAIT_S", 60.0)
    monkeypatch.setattr(scaler, "IDLE_WAIT_S", 60.0)
    jobs = [{"id": f"job-{i}", "input": {}} for i in range(5)]

    assert run_worker(monkeypatch, list(jobs)) == [job["id"] for job in jobs]


def test_install_makes_the_sdk_worker_build_the_event_scaler() -> None:
    original = rp_scale.JobScaler
    try:
        scaler.install()
        assert rp_scale.JobScaler is scaler.EventJobScaler
    finally:
        rp_scale.JobScaler = original
