"""The grid under load and under failure: every job exactly once, every credit once."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from shared.engine import audit, clock, jobs, ledger
from shared.engine.jobs import JobState
from shared.grid import pricing
from shared.grid.ids import job_doc_id
from shared.grid.work import sweep_grid
from tests.helpers import site_url
from tests.integration.grid_client import grid_key

WORKERS = 32
JOBS = 500


def _register(base: str, key: str, model: str) -> httpx.Client:
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    assert (
        client.post(
            "/worker/register",
            json={"name": f"w-{uuid.uuid4().hex[:6]}", "models": [{"name": model}]},
        ).status_code
        == 201
    )
    return client


def test_32_workers_complete_500_jobs_exactly_once_and_money_adds_up(stack) -> None:
    base = f"{site_url(stack, 'grid')}/api/v1"
    model = f"load{uuid.uuid4().hex[:6]}:1b"
    client_account, client_key = grid_key()
    with (
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {client_key}"}, timeout=60
        ) as client,
        ThreadPoolExecutor(16) as pool,
    ):
        submitted = list(
            pool.map(
                lambda _: client.post(
                    "/jobs", json={"model": model, "model_match": "exact", "prompt": "p"}
                ),
                range(JOBS),
            )
        )
    assert [r.status_code for r in submitted] == [201] * JOBS
    job_ids = {r.json()["job_id"] for r in submitted}
    # The free quota is 100 requests a day: the rest wait for later days (see the quota
    # test). Queue them as the sweep would at each midnight, moving this process's clock.
    from shared.grid.jobs import release_quota_held

    try:
        for _ in range(JOBS // 100 + 1):
            clock.advance(dt.timedelta(days=1))
            release_quota_held(now=clock.now())
    finally:
        clock.reset()
    states = {jobs.get(job_doc_id(j)).state for j in job_ids}
    assert states == {JobState.QUEUED}
    worker_accounts = [grid_key() for _ in range(WORKERS)]
    completed: dict[int, list[int]] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + 300

    def run_worker(index: int) -> None:
        w = _register(base, worker_accounts[index][1], model)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if len(completed) >= JOBS:
                        return
                got = w.get("/worker/jobs/next", params={"models[]": [model]})
                if got.status_code == 204:
                    continue
                job_id = got.json()["job_id"]
                assert w.patch(f"/worker/jobs/{job_id}/start").status_code == 200
                tokens = 100 + job_id % 50
                done = w.post(
                    f"/worker/jobs/{job_id}/result",
                    json={"output": "o" * tokens, "output_tokens": tokens, "duration_ms": 1},
                )
                assert done.status_code == 200, done.text
                with lock:
                    completed.setdefault(job_id, []).append(index)
        finally:
            w.close()

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(run_worker, range(WORKERS)))
    assert set(completed) == job_ids
    assert all(len(by) == 1 for by in completed.values()), "a job was completed twice"
    assert ledger.entries(client_account) == []  # the free tier: the client pays nothing
    earned = sum(
        ledger.balance(ledger.earnings_account(a)).balance_micros for a, _ in worker_accounts
    )
    assert earned == sum(pricing.worker_earning(100 + j % 50) for j in job_ids)
    for account_id in [
        client_account,
        *(ledger.earnings_account(a) for a, _ in worker_accounts),
    ]:
        assert audit.check(account_id)["ok"], audit.check(account_id)


def test_job_of_a_killed_worker_is_requeued_and_paid_once(stack) -> None:
    base = f"{site_url(stack, 'grid')}/api/v1"
    model = f"kill{uuid.uuid4().hex[:6]}:1b"
    client_account, client_key = grid_key()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {client_key}"}) as c:
        job_id = c.post("/jobs", json={"model": model, "prompt": "p"}).json()["job_id"]
    dead_account, dead_key = grid_key()
    live_account, live_key = grid_key()
    dead = _register(base, dead_key, model)
    assert dead.get("/worker/jobs/next", params={"models[]": [model]}).json()["job_id"] == job_id
    assert dead.patch(f"/worker/jobs/{job_id}/start").status_code == 200
    # The dead worker stops heartbeating; 100 s later the sweep finds it offline.
    swept = sweep_grid(now=clock.now() + dt.timedelta(seconds=100))
    assert swept == {"requeued": 1}
    assert jobs.get(job_doc_id(job_id)).state is JobState.QUEUED
    live = _register(base, live_key, model)
    assert live.get("/worker/jobs/next", params={"models[]": [model]}).json()["job_id"] == job_id
    assert live.patch(f"/worker/jobs/{job_id}/start").status_code == 200
    # The dead worker comes back and reports late: refused, unpaid.
    late = dead.post(
        f"/worker/jobs/{job_id}/result",
        json={"output": "late " * 200, "output_tokens": 900, "duration_ms": 1},
    )
    assert late.status_code == 422  # no longer held by this worker
    assert (
        live.post(
            f"/worker/jobs/{job_id}/result",
            json={"output": "ok " * 100, "output_tokens": 200, "duration_ms": 1},
        ).status_code
        == 200
    )
    assert ledger.balance(ledger.earnings_account(dead_account)).balance_micros == 0
    assert ledger.balance(ledger.earnings_account(live_account)).balance_micros == 2_000
    assert ledger.entries(client_account) == []
    for account_id in (client_account, *map(ledger.earnings_account, (dead_account, live_account))):
        assert audit.check(account_id)["ok"]
    dead.close()
    live.close()
