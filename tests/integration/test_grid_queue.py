"""The claimable queue (shared/grid/queue.py): an entry exactly while its job is QUEUED,
and concurrent pollers claim each job exactly once through it."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from shared.engine import clock, jobs
from shared.engine.jobs import JobState
from shared.engine.store import db
from shared.grid import claims, queue
from shared.grid import jobs as grid_jobs
from shared.grid.work import fail, requeue_or_fail
from shared.grid.workers import WORKERS, Worker
from tests.integration.grid_client import grid_key


def _worker(worker_id: int, *, cap: int = 100) -> Worker:
    now = clock.now()
    return Worker(
        id=worker_id, account_id="q", max_concurrent_jobs=cap, last_seen=now, created_at=now
    )


def _submit(account_id: str, model: str, **extra) -> jobs.JobRecord:
    request = grid_jobs.JobCreateRequest(model=model, model_match="exact", prompt="p", **extra)
    return grid_jobs.submit(account_id=account_id, api_key="k", request=request)


def _entry(job_id: str) -> dict | None:
    data, _ = queue.read(queue.entry_ref(job_id))
    return data


def _claim(worker: Worker, model: str) -> jobs.JobRecord | None:
    return claims.claim_queued(
        worker=worker, models={model}, families=set(), catch_all=False, wait_s=0
    )


def test_an_entry_lives_exactly_while_its_job_is_queued(stack) -> None:
    account_id, _ = grid_key()
    model = f"q{uuid.uuid4().hex[:6]}:1b"
    job = _submit(account_id, model, priority=3)
    assert _entry(job.id) == {
        "model": model,
        "created_at": job.created_at,
        "priority": 3,
        "model_match": "exact",
        "model_family": model.split(":")[0],
        "failed_workers": [],
        "slot": queue.SHARED_SLOT,
    }
    assert grid_jobs.change_priority(job, -3) == 0
    assert _entry(job.id)["slot"] == queue.slot_of(job.id, priority=0)

    first = _worker(9001)
    claimed = _claim(first, model)
    assert claimed is not None and claimed.id == job.id and claimed.state is JobState.CLAIMED
    assert _entry(job.id) is None
    assert job.id in queue.read(queue.held_ref(first.id))[0]["jobs"]

    # The sweep's requeue puts it back, with the lapsed worker remembered.
    assert requeue_or_fail(jobs.get(job.id), reason="worker went offline") == "pending"
    assert _entry(job.id)["failed_workers"] == [first.id]
    assert job.id not in queue.read(queue.held_ref(first.id))[0]["jobs"]
    assert _claim(first, model) is None  # never offered again to the worker that lapsed

    second = _worker(9002)
    db().collection(WORKERS).document(str(second.id)).set({"failed_runs": 0})  # fail counts
    assert _claim(second, model).id == job.id
    assert fail(worker=second, grid_id=claimed.site_fields["grid_id"], error="boom") == "failed"
    assert _entry(job.id) is None
    assert queue.read(queue.held_ref(second.id))[0]["jobs"] == []

    # A client's retry queues it again; a cancel takes it out.
    grid_jobs.retry(jobs.get(job.id))
    assert _entry(job.id)["failed_workers"] == [first.id, second.id]
    grid_jobs.cancel(jobs.get(job.id))
    assert _entry(job.id) is None


def test_a_stale_entry_is_never_claimed_and_is_cleared(stack) -> None:
    account_id, _ = grid_key()
    model = f"q{uuid.uuid4().hex[:6]}:1b"
    job = _submit(account_id, model)
    # As if a path out of QUEUED had left the entry behind.
    entry = _entry(job.id)
    jobs.finish(job.id, state=JobState.CANCELLED, error="gone")
    queue.entry_ref(job.id).set(entry)
    assert _claim(_worker(9003), model) is None
    assert _entry(job.id) is None
    assert jobs.get(job.id).state is JobState.CANCELLED


def test_backfill_gives_a_queued_job_without_an_entry_its_entry(stack) -> None:
    account_id, _ = grid_key()
    model = f"q{uuid.uuid4().hex[:6]}:1b"
    job, claimed = _submit(account_id, model), _submit(account_id, model)
    # As if both were queued before the queue existed: no entries.
    queue.entry_ref(job.id).delete()
    queue.entry_ref(claimed.id).delete()
    assert _claim(_worker(9005), model) is None  # nothing offers them
    assert queue.backfill() >= 1
    assert _entry(job.id) == queue.entry(jobs.get(job.id))
    assert _claim(_worker(9005), model) is not None
    assert queue.backfill() == 0  # idempotent: the other job has its entry already


def test_a_held_list_at_the_cap_is_checked_against_the_jobs(stack) -> None:
    account_id, _ = grid_key()
    model = f"q{uuid.uuid4().hex[:6]}:1b"
    job = _submit(account_id, model)
    worker = _worker(9004, cap=1)
    queue.held_ref(worker.id).set({"jobs": ["a-job-it-no-longer-holds"]})
    assert _claim(worker, model).id == job.id
    other = _submit(account_id, model)
    assert _claim(worker, model) is None  # really at its cap now
    assert _entry(other.id) is not None


def test_16_pollers_claim_40_jobs_each_exactly_once(stack) -> None:
    account_id, _ = grid_key()
    model = f"q{uuid.uuid4().hex[:6]}:1b"
    with ThreadPoolExecutor(8) as pool:
        submitted = {job.id for job in pool.map(lambda _: _submit(account_id, model), range(40))}
    claimed: list[str] = []
    lock = threading.Lock()

    def poll(index: int) -> None:
        worker = _worker(9100 + index)
        while (job := _claim(worker, model)) is not None:
            with lock:
                claimed.append(job.id)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(poll, range(16)))
    assert sorted(claimed) == sorted(submitted)
    assert all(jobs.get(job_id).state is JobState.CLAIMED for job_id in submitted)
    assert all(_entry(job_id) is None for job_id in submitted)
