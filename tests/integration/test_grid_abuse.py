"""Hostile grid workers (free accounts): a worker fails a job at most once, never holds
more claims than its registration allows, is offered only what it registered, is
suspended past its failure rate, earns nothing from inflated counts or its own jobs, and
its earnings wait out a settlement window in which they can be taken back."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest

from shared.engine import audit, clock, identity, ledger
from shared.engine.errors import AppError
from shared.engine.identity import Site
from shared.engine.settings import get_settings
from shared.grid import credits, pricing, workers
from shared.grid import jobs as grid_jobs
from shared.grid.work import sweep_grid
from tests.integration.grid_client import Api, earned_micros, grid_key


def _model() -> str:
    return f"abuse{uuid.uuid4().hex[:6]}:7b"


def _client(stack) -> tuple[Api, str]:
    account_id, key = grid_key()
    return Api(stack, key), account_id


def _submit(client: Api, model: str, **extra) -> int:
    body = {"model": model, "model_match": "exact", "prompt": "p", **extra}
    created = client.post("/jobs", json=body)
    assert created.status_code == 201, created.text
    return created.json()["job_id"]


def _worker(stack, models: list[str], **registration) -> tuple[Api, str]:
    account_id, key = grid_key()
    api = Api(stack, key)
    body = {"name": f"rig-{uuid.uuid4().hex[:6]}", "models": [{"name": m} for m in models]}
    registered = api.post("/worker/register", json=body | registration)
    assert registered.status_code == 201, registered.text
    return api, account_id


def _poll(worker: Api, *models: str, **params):
    return worker.get("/worker/jobs/next", params={"models[]": list(models), **params})


def _claim(worker: Api, model: str) -> int:
    got = _poll(worker, model)
    assert got.status_code == 200, got.text
    return got.json()["job_id"]


def _finish(worker: Api, job_id: int, *, output: str, tokens: int):
    assert worker.patch(f"/worker/jobs/{job_id}/start").status_code == 200
    return worker.post(
        f"/worker/jobs/{job_id}/result",
        json={"output": output, "output_tokens": tokens, "duration_ms": 1},
    )


def test_a_hostile_worker_fails_a_job_at_most_once(stack) -> None:
    model = _model()
    client, _ = _client(stack)
    job_id = _submit(client, model)
    hostile, _ = _worker(stack, [model])
    honest, honest_account = _worker(stack, [model])
    # Run 1: the hostile worker claims it and goes silent; the sweep takes the claim back.
    assert _claim(hostile, model) == job_id
    assert sweep_grid(now=clock.now() + dt.timedelta(seconds=100))["requeued"] >= 1
    assert client.get(f"/jobs/{job_id}").json()["status"] == "pending"
    # It is never offered the job again, so it cannot spend the job's other claims.
    assert _poll(hostile, model).status_code == 204
    assert _claim(honest, model) == job_id
    assert honest.post(f"/worker/jobs/{job_id}/fail", json={"error": "oom"}).status_code == 200
    assert client.post(f"/jobs/{job_id}/retry").status_code == 200
    # Neither the lapsed worker nor the one that failed the previous run gets the retry.
    assert _poll(hostile, model).status_code == 204
    assert _poll(honest, model).status_code == 204
    third, third_account = _worker(stack, [model])
    assert _claim(third, model) == job_id
    assert _finish(third, job_id, output="ok" * 10, tokens=20).status_code == 200
    assert earned_micros(honest_account) == 0
    assert earned_micros(third_account) == pricing.worker_earning(20)


def test_only_a_silent_worker_has_a_lapse_counted_against_it(stack) -> None:
    model = _model()
    client, _ = _client(stack)
    short = _submit(client, model, timeout_seconds=1)
    worker, _ = _worker(stack, [model])
    assert _claim(worker, model) == short
    worker_id = int(
        worker.post("/worker/register", json={"models": [{"name": model}]}).json()["worker_id"]
    )
    # The job's own (client-chosen) timeout ran out: not the worker's fault.
    sweep_grid(now=clock.now() + dt.timedelta(seconds=2))
    assert workers.get(worker_id).failed_runs == 0
    assert _poll(worker, model).status_code == 204  # but it is not offered that job again
    silent = _submit(client, model)
    assert _claim(worker, model) == silent
    sweep_grid(now=clock.now() + dt.timedelta(seconds=100))  # the worker went silent
    assert workers.get(worker_id).failed_runs == 1


@pytest.mark.parametrize("cap", [1, 2])
def test_a_worker_holds_at_most_its_registered_claims(stack, cap: int) -> None:
    model = _model()
    client, _ = _client(stack)
    queued = {_submit(client, model) for _ in range(cap + 1)}
    registration = {} if cap == 1 else {"max_concurrent_jobs": cap}
    worker, _ = _worker(stack, [model], **registration)
    held = [_claim(worker, model) for _ in range(cap)]
    assert set(held) < queued
    assert _poll(worker, model).status_code == 204  # at its cap: the last job waits
    assert _finish(worker, held[0], output="abc", tokens=3).status_code == 200
    assert _claim(worker, model) in queued - set(held)  # one finished: one more claim


def test_a_registration_may_not_ask_for_more_claims_than_allowed(stack) -> None:
    limit = get_settings().grid_max_concurrent_claims
    _, key = grid_key()
    api = Api(stack, key)
    for asked, status in [(limit + 1, 422), (0, 422), (limit, 201)]:
        body = {"models": [{"name": _model()}], "max_concurrent_jobs": asked}
        assert api.post("/worker/register", json=body).status_code == status


def test_a_worker_has_one_poll_open_at_a_time(stack) -> None:
    worker, _ = _worker(stack, [_model()])
    first: list[int] = []
    polling = threading.Thread(target=lambda: first.append(_poll(worker, "idle:1b").status_code))
    polling.start()
    time.sleep(0.8)  # the first poll waits (RELAY_GRID_POLL_WAIT_S=2 in the stack)
    second = _poll(worker, "idle:1b")
    polling.join()
    assert second.status_code == 429 and second.json() == {"error": "rate_limited"}
    assert first == [204]
    assert _poll(worker, "idle:1b").status_code == 204  # the lease came back


def test_what_a_worker_is_offered_comes_from_its_registration(stack) -> None:
    served, other = _model(), _model()
    client, _ = _client(stack)
    job_id = _submit(client, other)
    worker, _ = _worker(stack, [served])
    # Declaring a model (or catch-all) in the query string does not add it.
    assert _poll(worker, other).status_code == 204
    assert _poll(worker, served, catch_all="true").status_code == 204
    assert worker.get("/worker/jobs/next", params={"families[]": ["abuse"]}).status_code == 204
    # A poll that declares nothing is offered what the registration serves.
    mine = _submit(client, served)
    assert worker.get("/worker/jobs/next").json()["job_id"] == mine
    assert client.get(f"/jobs/{job_id}").json()["status"] == "pending"


def test_a_worker_past_its_failure_rate_is_offered_nothing(stack) -> None:
    model = _model()
    client, _ = _client(stack)
    failures = get_settings().grid_failure_min_runs
    for _ in range(failures + 1):
        _submit(client, model)
    worker, _ = _worker(stack, [model])
    for n in range(failures):
        job_id = _claim(worker, model)  # still offered while under the threshold
        failed = worker.post(f"/worker/jobs/{job_id}/fail", json={"error": f"x{n}"})
        assert failed.json() == {"status": "failed"}
    refused = _poll(worker, model)  # one job is still queued for it
    assert refused.status_code == 403 and refused.json() == {"error": "forbidden"}


def test_inflated_counts_earn_nothing(stack) -> None:
    model = _model()
    # Its own job: a free account cannot mint earnings by serving itself.
    worker, worker_account = _worker(stack, [model])
    # (a worker-bound key serves only the worker routes: the account submits with a client key)
    own_client = Api(stack, identity.create_api_key(account_id=worker_account, site=Site.GRID))
    own = own_client.post("/jobs", json={"model": model, "model_match": "exact", "prompt": "p"})
    assert own.status_code == 201, own.text
    job_id = _claim(worker, model)
    assert _finish(worker, job_id, output="z" * 5_000, tokens=5_000).status_code == 200
    assert earned_micros(worker_account) == 0
    # Someone else's job: the tokens paid for stop at the per-job cap.
    cap = get_settings().grid_max_paid_output_tokens
    client, _ = _client(stack)
    job_id = _submit(client, model)
    assert _claim(worker, model) == job_id
    inflated = cap + 1_000
    assert _finish(worker, job_id, output="z" * inflated, tokens=inflated).status_code == 200
    assert earned_micros(worker_account) == pricing.worker_earning(cap)
    assert audit.check(ledger.earnings_account(worker_account))["ok"]


def test_earnings_wait_out_the_settlement_window_and_can_be_reversed(stack, monkeypatch) -> None:
    window = 3600
    monkeypatch.setattr(get_settings(), "grid_settlement_window_s", window)
    model = _model()
    client, _ = _client(stack)
    for _ in range(2):
        _submit(client, model)
    worker, worker_account = _worker(stack, [model])
    older = _claim(worker, model)
    assert _finish(worker, older, output="a" * 300, tokens=300).status_code == 200
    me = workers.get(
        worker.post("/worker/register", json={"models": [{"name": model}]}).json()["worker_id"]
    )
    assert credits.summary(me).payable_micros == 0
    with pytest.raises(AppError, match="insufficient"):
        credits.request_payout(me)  # earned, but inside its window
    time.sleep(1.0)
    newer = _claim(worker, model)
    assert _finish(worker, newer, output="b" * 200, tokens=200).status_code == 200
    account = ledger.earnings_account(worker_account)
    earned_at = sorted(e["created_at"] for e in ledger.entries(account))
    # Move this process's clock so the window's start falls between the two earnings.
    middle = earned_at[0] + (earned_at[1] - earned_at[0]) / 2
    try:
        clock.advance(middle + dt.timedelta(seconds=window) - clock.now())
        assert credits.summary(me).payable_micros == pricing.worker_earning(300)
        paid = credits.request_payout(me)
        assert paid.amount_micros == pricing.worker_earning(300)  # the newer one waits
        with pytest.raises(AppError, match="insufficient"):
            credits.request_payout(me)
        # Fraud found within the window: the newer earning is taken back before it leaves.
        assert credits.reverse_earning(grid_id=newer, reason="fraud")
        assert credits.reverse_earning(grid_id=newer, reason="fraud")  # a retry changes nothing
    finally:
        clock.reset()
    assert ledger.balance(account).balance_micros == 0
    assert audit.check(account)["ok"], audit.check(account)


def test_job_lists_skip_at_most_the_offset_cap(stack, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "grid_max_list_offset", 1)
    client, account_id = _client(stack)
    for _ in range(3):
        _submit(client, _model())

    def page(offset: int) -> int:
        found = grid_jobs.list_jobs(
            account_id=account_id,
            status=None,
            model=None,
            tag=None,
            start=None,
            end=None,
            offset=offset,
        )
        return len(found)

    assert (page(0), page(1), page(2)) == (3, 2, 0)  # offset 2 is past the cap, not the end
