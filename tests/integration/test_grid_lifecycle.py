"""A grid job's life past the happy path: failure, retry, stale workers, inflated counts,
payouts, webhooks per run, and id collisions."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from shared.engine import audit, clock, jobs, ledger
from shared.engine.jobs import JobState
from shared.grid import jobs as grid_jobs
from shared.grid import views
from shared.grid.ids import job_doc_id
from shared.grid.work import sweep_grid
from tests.integration.grid_client import Api, earned_micros, grid_key, register_worker
from tests.webhook_receiver import Receiver, wait_until


def _model() -> str:
    return f"life{uuid.uuid4().hex[:6]}:7b"


def _submit(stack, model: str, **extra) -> tuple[Api, str, int]:
    account_id, key = grid_key()
    client = Api(stack, key)
    created = client.post("/jobs", json={"model": model, "prompt": "p", **extra})
    assert created.status_code == 201, created.text
    return client, account_id, created.json()["job_id"]


def _claim_and_start(worker: Api, model: str, job_id: int) -> None:
    got = worker.get("/worker/jobs/next", params={"models[]": [model]})
    assert got.status_code == 200 and got.json()["job_id"] == job_id, got.text
    assert worker.patch(f"/worker/jobs/{job_id}/start").status_code == 200


def _result(worker: Api, job_id: int, *, output: str, tokens: int):
    return worker.post(
        f"/worker/jobs/{job_id}/result",
        json={"output": output, "output_tokens": tokens, "duration_ms": 1},
    )


def test_failed_job_stays_failed_until_retried_then_another_worker_completes_it(stack) -> None:
    model = _model()
    client, client_account, job_id = _submit(stack, model)
    a, a_account = register_worker(stack, model)
    b, b_account = register_worker(stack, model)
    _claim_and_start(a, model, job_id)
    failed = a.post(f"/worker/jobs/{job_id}/fail", json={"error": "ollama died"})
    assert failed.json() == {"status": "failed"}
    assert client.get(f"/jobs/{job_id}").json()["status"] == "failed"
    # Failed means failed: no worker is offered it until the client retries.
    assert b.get("/worker/jobs/next", params={"models[]": [model]}).status_code == 204
    retried = client.post(f"/jobs/{job_id}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert retried.json()["job_id"] == job_id
    # The worker that failed the last run is not offered the retry; another one is.
    assert a.get("/worker/jobs/next", params={"models[]": [model]}).status_code == 204
    _claim_and_start(b, model, job_id)
    assert _result(b, job_id, output="x" * 40, tokens=40).status_code == 200
    assert client.get(f"/jobs/{job_id}").json()["status"] == "completed"
    assert (earned_micros(a_account), earned_micros(b_account)) == (0, 400)
    assert client.post(f"/jobs/{job_id}/retry").status_code == 422  # only failed jobs
    for account in (client_account, ledger.earnings_account(b_account)):
        assert audit.check(account)["ok"], audit.check(account)


def test_inflated_output_tokens_are_refused_and_nothing_is_paid(stack) -> None:
    model = _model()
    client, _, job_id = _submit(stack, model)
    worker, worker_account = register_worker(stack, model)
    _claim_and_start(worker, model, job_id)
    # "héllo" is 6 UTF-8 bytes: at most 6 byte-level tokens.
    refused = _result(worker, job_id, output="héllo", tokens=7)
    assert refused.status_code == 422 and "output_tokens" in refused.json()["error"]
    assert client.get(f"/jobs/{job_id}").json()["status"] == "running"
    assert ledger.entries(ledger.earnings_account(worker_account)) == []
    assert _result(worker, job_id, output="héllo", tokens=6).status_code == 200
    assert earned_micros(worker_account) == 60


def test_stale_worker_cannot_complete_a_job_it_lost_to_the_sweep(stack) -> None:
    model = _model()
    client, _, job_id = _submit(stack, model, timeout_seconds=30)
    a, a_account = register_worker(stack, model)
    _claim_and_start(a, model, job_id)
    # A's run passes its timeout_seconds: the sweep takes the job back.
    assert sweep_grid(now=clock.now() + dt.timedelta(seconds=31)) == {"requeued": 1}
    assert jobs.get(job_doc_id(job_id)).state is JobState.QUEUED
    b, b_account = register_worker(stack, model)
    _claim_and_start(b, model, job_id)
    late = _result(a, job_id, output="late " * 100, tokens=500)
    assert late.status_code == 422, late.text
    assert a.patch(f"/worker/jobs/{job_id}/start").status_code == 422
    assert a.post(f"/worker/jobs/{job_id}/fail", json={"error": "x"}).status_code == 422
    assert client.get(f"/jobs/{job_id}").json()["status"] == "running"
    assert _result(b, job_id, output="ok " * 100, tokens=123).status_code == 200
    assert (earned_micros(a_account), earned_micros(b_account)) == (0, 1_230)
    assert client.get(f"/jobs/{job_id}").json()["output_tokens"] == 123


def test_payout_draws_only_on_earnings_never_on_prepaid_credit(stack) -> None:
    model = _model()
    worker, worker_account = register_worker(stack, model, credits=50)
    refused = worker.post("/worker/payout_request")
    assert refused.status_code == 422 and refused.json() == {"error": "insufficient balance"}
    assert ledger.balance(worker_account).balance_micros == 500_000
    assert worker.get("/worker/credits").json()["balance"] == 0.0
    _, _, job_id = _submit(stack, model)
    _claim_and_start(worker, model, job_id)
    assert _result(worker, job_id, output="y" * 300, tokens=300).status_code == 200
    paid = worker.post("/worker/payout_request")
    assert paid.status_code == 201 and paid.json()["amount_credits"] == 0.3
    assert ledger.balance(worker_account).balance_micros == 500_000
    assert earned_micros(worker_account) == 0
    assert worker.post("/worker/payout_request").status_code == 422
    for account in (worker_account, ledger.earnings_account(worker_account)):
        assert audit.check(account)["ok"], audit.check(account)


@pytest.fixture
def receiver():
    hooks = Receiver(
        signature_header="X-Vibe-Signature",
        identify=lambda body: (body["status"], str(body["job_id"])),
    )
    yield hooks
    hooks.close()


def test_retried_job_sends_its_webhook_again_at_its_next_terminal_state(stack, receiver) -> None:
    from shared.engine import webhooks

    model = _model()
    _, key = grid_key()
    client = Api(stack, key)
    created = client.post(
        "/jobs", json={"model": model, "prompt": "p", "webhook_url": f"{receiver.url}/hooks"}
    )
    job_id = created.json()["job_id"]
    a, _ = register_worker(stack, model)
    b, _ = register_worker(stack, model)
    _claim_and_start(a, model, job_id)
    assert a.post(f"/worker/jobs/{job_id}/fail", json={"error": "oom"}).status_code == 200
    [first] = receiver.wait_for("failed", str(job_id))
    assert first.json == client.get(f"/jobs/{job_id}").json()
    assert client.post(f"/jobs/{job_id}/retry").status_code == 200
    _claim_and_start(b, model, job_id)
    assert _result(b, job_id, output="done", tokens=2).status_code == 200
    [second] = receiver.wait_for("completed", str(job_id))
    assert second.json == client.get(f"/jobs/{job_id}").json()
    for delivery in (first, second):
        assert webhooks.verify(delivery.body, delivery.signature, key)
    doc_id = job_doc_id(job_id)
    runs = [webhooks.get_delivery(f"{doc_id}:run{n}") for n in (1, 2)]
    assert all(r is not None for r in runs)
    # Once completed, the job can reach no other terminal state: the sealed key is dropped.
    wait_until(lambda: "webhook_secret" not in jobs.get(doc_id).site_fields, 10, "key dropped")


def test_a_job_id_collision_never_returns_another_accounts_job(stack, monkeypatch) -> None:
    first_account, _ = grid_key()
    second_account, _ = grid_key()
    request = views.JobCreateRequest(model=_model(), prompt="mine")
    taken = grid_jobs.submit(account_id=first_account, api_key="k", request=request)
    taken_id = int(taken.site_fields["grid_id"])
    ids = iter([taken_id, taken_id + 1])
    monkeypatch.setattr(grid_jobs, "new_id", lambda: next(ids))
    job = grid_jobs.submit(account_id=second_account, api_key="k", request=request)
    assert (job.account_id, job.site_fields["grid_id"]) == (second_account, taken_id + 1)
    assert jobs.get(job_doc_id(taken_id)).account_id == first_account


def test_concurrent_payout_requests_pay_the_earnings_once(stack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = _model()
    worker, worker_account = register_worker(stack, model)
    _, _, job_id = _submit(stack, model)
    _claim_and_start(worker, model, job_id)
    assert _result(worker, job_id, output="z" * 250, tokens=250).status_code == 200
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: worker.post("/worker/payout_request"), range(4)))
    paid = [a.json()["amount_credits"] for a in answers if a.status_code == 201]
    assert paid == [0.25] and {a.status_code for a in answers} <= {201, 422}
    assert earned_micros(worker_account) == 0
    payouts = ledger.entries(ledger.earnings_account(worker_account))
    assert sorted(e["kind"] for e in payouts) == ["earning", "payout"]
    assert audit.check(ledger.earnings_account(worker_account))["ok"]
