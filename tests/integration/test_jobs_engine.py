"""The job engine under lost commit responses, job id collisions and ambiguous dispatch."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from shared.engine import audit, dispatch, jobs, ledger, store
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobState
from shared.engine.settings import get_settings
from tests.helpers import new_account
from tests.integration.runpod_faults import (
    RUNPOD_AUTH,
    faults,
    idle_create,
    runpod_url,
    runs_for,
    wait_dispatched,
)
from tests.stack_fixture import IDLE_MODEL


def _hold_entries(account_id: str, job_id: str) -> list[dict]:
    return [e for e in ledger.entries(account_id) if e.get("job_id") == job_id]


def test_submit_whose_commit_response_is_lost_returns_its_job_and_dispatches_once(
    stack,
) -> None:
    account_id, _ = new_account(credits=1)
    with store.lose_commit_responses("jobs.submit"):
        job = jobs.submit(idle_create(account_id, idempotency_key=f"lost-{uuid.uuid4()}"))
    assert jobs.get(job.id).account_id == account_id
    dispatched = wait_dispatched(job.id)
    assert [run["id"] for run in runs_for(stack, job.id)] == [dispatched.backend_job_id]
    assert [e["kind"] for e in _hold_entries(account_id, job.id)] == ["hold"]
    assert ledger.balance(account_id).available_micros == 0
    assert audit.check(account_id)["ok"]


def test_dispatch_whose_commit_response_is_lost_still_runs_the_job_once(stack) -> None:
    account_id, _ = new_account(credits=1)
    job = jobs.submit(idle_create(account_id), dispatch=False)
    with store.lose_commit_responses("jobs.dispatch"):
        outcome = dispatch.dispatch(job.id)
    assert outcome.startswith("dispatched as ")
    recorded = jobs.get(job.id)
    assert recorded.state is JobState.QUEUED and recorded.backend_job_id
    assert [run["id"] for run in runs_for(stack, job.id)] == [recorded.backend_job_id]
    assert dispatch.dispatch(job.id) == "already dispatched"
    assert len(runs_for(stack, job.id)) == 1


def test_a_job_id_taken_by_another_account_is_never_returned(stack) -> None:
    owner, _ = new_account(credits=1)
    other, _ = new_account(credits=1)
    taken = f"collide-{uuid.uuid4()}"
    theirs = jobs.submit(idle_create(owner), dispatch=False, job_id=taken)
    fresh = iter([taken, f"fresh-{uuid.uuid4()}"])
    mine = jobs.submit(idle_create(other), dispatch=False, id_factory=lambda: next(fresh))
    assert mine.id != theirs.id and mine.account_id == other
    assert jobs.get(taken).account_id == owner
    assert jobs.get(mine.id).account_id == other
    assert ledger.balance(other).available_micros == 0  # one hold, on its own job
    assert audit.check(other)["ok"] and audit.check(owner)["ok"]
    with pytest.raises(AppError) as caught:
        jobs.submit(idle_create(other, micros=0), dispatch=False, job_id=taken)
    assert caught.value.kind is ErrorKind.CONFLICT
    assert jobs.get(taken).account_id == owner


def test_ambiguous_run_keeps_one_run_and_ignores_and_cancels_the_other(stack) -> None:
    """/run lands but answers 500: the retry starts a second run; only one is ever applied."""
    account_id, _ = new_account(credits=1)
    job = jobs.submit(idle_create(account_id), dispatch=False)
    hdr = dispatch.callback_headers(job.id)
    with faults(stack, run="land_then_error", run_times=1), pytest.raises(AppError):
        dispatch.dispatch(job.id)
    assert jobs.get(job.id).state is JobState.PENDING  # given back for the task's retry
    [ghost] = runs_for(stack, job.id)
    assert dispatch.dispatch(job.id, attempt=1).startswith("dispatched as ")
    kept = jobs.get(job.id).backend_job_id
    assert kept and kept != ghost["id"]
    # The ghost run reports: ignored (200, so RunPod stops retrying), and it is cancelled.
    report = {"id": ghost["id"], "status": "FAILED", "error": "ghost"}
    response = httpx.post(dispatch.callback_url(job.id), json=report, headers=hdr, timeout=30)
    assert response.status_code == 200
    assert jobs.get(job.id).state is JobState.QUEUED
    assert ledger.balance(account_id).held_micros == 10_000
    status = httpx.get(
        f"{runpod_url(stack)}/v2/{IDLE_MODEL}/status/{ghost['id']}", headers=RUNPOD_AUTH
    ).json()
    assert status["status"] == "CANCELLED"
    # The recorded run's report settles the job, once.
    done = {"id": kept, "status": "FAILED", "error": "CUDA out of memory"}
    assert (
        httpx.post(dispatch.callback_url(job.id), json=done, headers=hdr, timeout=30).status_code
        == 200
    )
    assert jobs.get(job.id).state is JobState.FAILED
    kinds = sorted(e["kind"] for e in _hold_entries(account_id, job.id))
    assert kinds == ["hold", "release"]
    assert audit.check(account_id)["ok"]


def test_a_run_that_reports_before_its_dispatch_answered_becomes_the_job_run(stack) -> None:
    """The /run answer was lost and the run finished first: its report is applied, and the
    retried dispatch finds nothing left to do."""
    account_id, _ = new_account(credits=1)
    job = jobs.submit(idle_create(account_id), dispatch=False)
    hdr = dispatch.callback_headers(job.id)
    with faults(stack, run="land_then_error", run_times=1), pytest.raises(AppError):
        dispatch.dispatch(job.id)
    [ghost] = runs_for(stack, job.id)
    report = {"id": ghost["id"], "status": "FAILED", "error": "worker crashed"}
    assert (
        httpx.post(dispatch.callback_url(job.id), json=report, headers=hdr, timeout=30).status_code
        == 200
    )
    failed = jobs.get(job.id)
    assert failed.state is JobState.FAILED and failed.backend_job_id == ghost["id"]
    assert dispatch.dispatch(job.id, attempt=1) == "already dispatched"
    assert len(runs_for(stack, job.id)) == 1
    assert ledger.balance(account_id).available_micros == 10_000


def test_a_dispatch_task_that_arrives_before_its_job_waits_for_the_batch_and_runs_once(
    stack,
) -> None:
    """A submit creates the dispatch task while the job's batch commits (jobs.submit): a task
    delivered before the job lands waits for it (the job's reservation is still open)."""
    account_id, _ = new_account(credits=1)
    outcomes: list[str] = []
    early: list[threading.Thread] = []

    def deliver_before_the_batch(job_id: str) -> None:
        early.append(threading.Thread(target=lambda: outcomes.append(dispatch.dispatch(job_id))))
        early[0].start()
        time.sleep(0.3)  # the task is running while the batch has not committed

    created = jobs._create(
        idle_create(account_id),
        job_id=str(uuid.uuid4()),
        initial_state=JobState.PENDING,
        fields=None,
        before_commit=deliver_before_the_batch,
    )
    assert created is not None and created[1]
    early[0].join(30)
    recorded = jobs.get(created[0].id)
    assert outcomes == [f"dispatched as {recorded.backend_job_id}"]
    assert [run["id"] for run in runs_for(stack, recorded.id)] == [recorded.backend_job_id]
    assert ledger.balance(account_id).available_micros == 0


def test_a_dispatch_task_whose_job_never_lands_finds_nothing_to_do(stack) -> None:
    assert dispatch.dispatch(str(uuid.uuid4())) == "no such job"  # no reservation: at once
    account_id, _ = new_account(credits=1)
    stuck = str(uuid.uuid4())  # reserved, its batch never commits (a crashed submit)
    shard = ledger.reserve(account_id=account_id, reservation_id=stuck, micros=10_000)
    try:
        with pytest.raises(AppError) as retry:
            dispatch.dispatch(stuck)
        assert retry.value.kind is ErrorKind.UNAVAILABLE  # the task's retry looks again
        last = get_settings().dispatch_max_attempts - 1
        assert dispatch.dispatch(stuck, attempt=last) == "no such job"
    finally:
        ledger.undo_reservation(
            account_id=account_id, reservation_id=stuck, shard=shard, micros=10_000
        )
    assert jobs.find(stuck) is None
