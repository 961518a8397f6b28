"""Backend outages never fail a job; the sweep returns money first and keeps its deadline."""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid

import httpx

from shared.engine import audit, clock, dispatch, jobs, ledger, sweeps
from shared.engine.jobs import JobState
from shared.engine.store import RESERVATIONS, db
from tests.helpers import new_account, site_url, task_headers
from tests.integration.runpod_faults import (
    RUNPOD_AUTH,
    faults,
    idle_create,
    runpod_url,
    wait_dispatched,
)
from tests.stack_fixture import IDLE_MODEL


def _dispatched(account_id: str, **extra) -> jobs.JobRecord:
    return wait_dispatched(jobs.submit(idle_create(account_id, **extra)).id)


def test_status_5xx_during_polls_leaves_the_job_and_its_hold(stack) -> None:
    account_id, _ = new_account(credits=1)
    job = _dispatched(account_id)
    with faults(stack, status="error"):
        for _ in range(3):
            assert dispatch.reconcile(job).state is JobState.QUEUED
        polled = httpx.get(f"{site_url(stack, 'pics')}/api/v1/jobs/{job.id}", timeout=30)
        assert polled.json()["status"] == "pending"
    still = jobs.get(job.id)
    assert still.state is JobState.QUEUED and still.error is None
    assert ledger.balance(account_id).held_micros == 10_000
    # RunPod answers again: the job goes on and completes normally, captured once.
    assert dispatch.reconcile(still).state is JobState.QUEUED
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    report = {"id": still.backend_job_id, "status": "COMPLETED", "output": {"image_png_b64": png}}
    sent = httpx.post(
        dispatch.callback_url(job.id),
        json=report,
        headers=dispatch.callback_headers(job.id),
        timeout=30,
    )
    assert sent.status_code == 200
    done = jobs.get(job.id)
    assert done.state is JobState.COMPLETED and done.captured_micros == 10_000
    assert audit.check(account_id)["ok"]


def test_a_definitive_cancel_at_the_backend_fails_the_job_on_the_next_poll(stack) -> None:
    account_id, _ = new_account(credits=1)
    job = _dispatched(account_id)
    httpx.post(
        f"{runpod_url(stack)}/v2/{IDLE_MODEL}/cancel/{job.backend_job_id}", headers=RUNPOD_AUTH
    ).raise_for_status()
    assert dispatch.reconcile(job).state is JobState.FAILED
    assert ledger.balance(account_id).available_micros == 10_000


def test_a_job_the_backend_does_not_know_fails_and_is_released(stack) -> None:
    account_id, _ = new_account(credits=1)
    job = jobs.submit(idle_create(account_id), dispatch=False)
    lost = jobs.transition(
        job.id,
        from_states={JobState.PENDING},
        to_state=JobState.QUEUED,
        fields={"backend_job_id": f"{uuid.uuid4()}-u1"},
    )
    assert lost is not None
    failed = dispatch.reconcile(lost)
    assert failed.state is JobState.FAILED and "does not know" in (failed.error or "")
    assert ledger.balance(account_id).available_micros == 10_000


def _stale_reservation(account_id: str, micros: int) -> str:
    reservation = f"stale-{uuid.uuid4()}"
    ledger.reserve(account_id=account_id, reservation_id=reservation, micros=micros)
    old = clock.now() - dt.timedelta(hours=1)
    db().collection(RESERVATIONS).document(reservation).update({"created_at": old})
    return reservation


def test_sweep_against_a_hung_runpod_returns_money_and_keeps_its_deadline(stack) -> None:
    account_id, _ = new_account(credits=4)
    overdue = [_dispatched(account_id, timeout_s=1) for _ in range(3)]
    _stale_reservation(account_id, 10_000)
    assert ledger.balance(account_id).available_micros == 0
    time.sleep(1.5)
    budget = 8.0
    with faults(stack, status="hang", hang_s=60):
        started = time.monotonic()
        counts = dispatch.sweep(budget_s=budget)
        elapsed = time.monotonic() - started
    assert elapsed < budget + dispatch.SWEEP_CALL_TIMEOUT_S + 2, counts
    assert counts["reservations"] == 1
    for job in overdue:
        swept = jobs.get(job.id)
        assert swept.state is JobState.FAILED and swept.error == "timed out"
    money = ledger.balance(account_id)
    assert (money.balance_micros, money.held_micros, money.available_micros) == (40_000, 0, 40_000)
    assert audit.check(account_id)["ok"]


def test_sweep_hooks_run_isolated_and_a_failing_one_is_counted(stack) -> None:
    calls: list[str] = []

    def broken(now: dt.datetime) -> dict[str, int]:
        raise RuntimeError("site bug")

    def healthy(now: dt.datetime) -> dict[str, int]:
        calls.append("healthy")
        return {"done": 2}

    sweeps.register("test_broken", broken)
    sweeps.register("test_healthy", healthy)
    try:
        counts = dispatch.sweep(budget_s=30)
    finally:
        sweeps._hooks.pop("test_broken", None)
        sweeps._hooks.pop("test_healthy", None)
    assert calls == ["healthy"]
    assert counts["test_healthy_done"] == 2
    assert counts["errors"] == 1


def test_sweep_task_redelivered_is_harmless(stack) -> None:
    account_id, _ = new_account(credits=1)
    job = _dispatched(account_id, timeout_s=1)
    time.sleep(1.5)
    url = f"http://127.0.0.1:{stack.ports['functions']}/task_sweep"
    headers = task_headers("task_sweep")
    for _ in range(2):
        assert httpx.post(url, json={}, headers=headers, timeout=120).status_code == 200
    assert jobs.get(job.id).state is JobState.FAILED
    kinds = sorted(e["kind"] for e in ledger.entries(account_id) if e.get("job_id") == job.id)
    assert kinds == ["hold", "release"]
