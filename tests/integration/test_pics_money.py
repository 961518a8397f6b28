"""PicShapes money under concurrency and retries, on the emulators through the gateway."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from shared.engine import audit, dispatch, jobs, ledger
from shared.engine.jobs import JobState
from tests.helpers import auth, new_account, site_url, task_headers, wait_at_rest
from tests.integration.runpod_faults import idle_create, wait_dispatched
from tests.stack_fixture import IDLE_MODEL


def _idle_job(account_id: str, micros: int = 10_000, **extra: object) -> jobs.JobRecord:
    """A held job dispatched to a RunPod endpoint with no workers: it waits there."""
    return jobs.submit(idle_create(account_id, micros, **extra))


def test_fifty_concurrent_submits_on_an_account_that_affords_thirty(stack) -> None:
    account_id, key = new_account(credits=30)
    base = site_url(stack, "pics")
    body = {
        "prompt": "a lighthouse",
        "model": "z-image-turbo",
        "tier": "basic",
        "width": 64,
        "height": 64,
    }

    def submit(_: int) -> int:
        return httpx.post(
            f"{base}/api/v1/jobs", json=body, headers=auth(key), timeout=60
        ).status_code

    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(submit, range(50)))
    assert codes.count(201) == 30
    assert codes.count(402) == 20
    wait_at_rest(account_id)  # workers may still be settling the 30 jobs
    money = ledger.balance(account_id)
    assert money.available_micros == 0
    assert money.held_micros + (300_000 - money.balance_micros) == 300_000
    assert audit.check(account_id)["ok"]


def test_insufficient_credits_reports_balance_and_price(stack) -> None:
    _, key = new_account(credits=2)
    response = httpx.post(
        f"{site_url(stack, 'pics')}/api/v1/jobs",
        json={"prompt": "x", "tier": "premium"},
        headers=auth(key),
    )
    assert response.status_code == 402
    assert response.json() == {
        "error": "Insufficient credits",
        "code": "INSUFFICIENT_CREDITS",
        "credits": 2,
        "credits_needed": 5,
    }


def test_failed_callback_delivered_five_times_releases_once(stack) -> None:
    account_id, _ = new_account(credits=3)
    job = wait_dispatched(_idle_job(account_id, micros=30_000).id)
    assert ledger.balance(account_id).available_micros == 0
    url, hdr = dispatch.callback_url(job.id), dispatch.callback_headers(job.id)
    payload = {"id": job.backend_job_id, "status": "FAILED", "error": "CUDA out of memory"}
    with ThreadPoolExecutor(5) as pool:
        codes = list(
            pool.map(
                lambda _: httpx.post(url, json=payload, headers=hdr, timeout=60).status_code,
                range(5),
            )
        )
    assert codes == [200] * 5
    done = jobs.get(job.id)
    assert done.state is JobState.FAILED and done.error == "CUDA out of memory"
    money = ledger.balance(account_id)
    assert (money.balance_micros, money.held_micros, money.available_micros) == (30_000, 0, 30_000)
    kinds = sorted(e["kind"] for e in ledger.entries(account_id) if e.get("job_id") == job.id)
    assert kinds == ["hold", "release"]
    assert audit.check(account_id)["ok"]


def _altered(token: str) -> str:
    """The token with its first character changed (so never equal to it)."""
    return ("1" if token[0] == "0" else "0") + token[1:]


def test_callback_with_a_wrong_token_changes_nothing(stack) -> None:
    account_id, _ = new_account(credits=1)
    job = wait_dispatched(_idle_job(account_id).id)
    url = dispatch.callback_url(job.id)
    report = {"id": job.backend_job_id, "status": "FAILED"}
    header_token = dispatch.callback_token(job.id)
    for target, headers in [
        (url, {}),  # no token
        (url, {dispatch.CALLBACK_TOKEN_HEADER: _altered(header_token)}),
        # The header's token does not work in the URL (RunPod's URL has its own).
        (f"{url}&token={header_token}", {}),
        (dispatch.webhook_url(job.id).replace("token=", "token=0"), {}),
    ]:
        response = httpx.post(target, json=report, headers=headers, timeout=30)
        assert response.status_code == 401, (target, headers)
    assert jobs.get(job.id).state is JobState.QUEUED
    assert ledger.balance(account_id).held_micros == 10_000


def test_dispatch_task_delivered_twice_dispatches_once(stack) -> None:
    account_id, _ = new_account(credits=1)
    job = _idle_job(account_id)
    url = f"http://127.0.0.1:{stack.ports['functions']}/task_dispatch"
    headers = task_headers("task_dispatch")
    with ThreadPoolExecutor(2) as pool:
        codes = list(
            pool.map(
                lambda _: (
                    httpx.post(
                        url, json={"job_id": job.id}, headers=headers, timeout=60
                    ).status_code
                ),
                range(2),
            )
        )
    assert codes == [200, 200]
    first = wait_dispatched(job.id)
    # The queue's own delivery is a third: still one RunPod job, the one recorded.
    runpod = f"http://127.0.0.1:{stack.ports['runpod']}/v2/{IDLE_MODEL}/status/"
    status = httpx.get(
        runpod + first.backend_job_id, headers={"Authorization": "Bearer local-runpod-key"}
    ).json()
    assert status["status"] == "IN_QUEUE"
    again = httpx.post(url, json={"job_id": job.id}, headers=headers, timeout=60)
    assert again.json()["outcome"] == "already dispatched"
    assert jobs.get(job.id).backend_job_id == first.backend_job_id


def test_task_targets_refuse_calls_without_a_task_token(stack) -> None:
    url = f"http://127.0.0.1:{stack.ports['functions']}/task_dispatch"
    response = httpx.post(url, json={"job_id": str(uuid.uuid4())})
    assert response.status_code == 401


def test_sweep_fails_overdue_jobs_and_releases_their_holds(stack) -> None:
    import time

    account_id, _ = new_account(credits=2)
    job = wait_dispatched(_idle_job(account_id, micros=20_000, timeout_s=1).id)
    time.sleep(1.5)
    url = f"http://127.0.0.1:{stack.ports['functions']}/task_sweep"
    response = httpx.post(url, json={}, headers=task_headers("task_sweep"), timeout=60)
    assert response.status_code == 200
    swept = jobs.get(job.id)
    assert swept.state is JobState.FAILED and swept.error == "timed out"
    assert ledger.balance(account_id).available_micros == 20_000
    assert audit.check(account_id)["ok"]
