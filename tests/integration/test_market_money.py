"""Tarsify money on real emulators and the local RunPod workers: a consumer's run is paid
once from their Relay balance, its capture split 80/20 between the creator's earnings and
the platform; runs that fail, are cancelled or cannot be paid cost nothing."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from shared.engine import audit, jobs, ledger
from shared.engine.jobs import JobState
from shared.market import records
from tests.helpers import ledger_entries
from tests.integration.runpod_faults import runs_for, wait_dispatched
from tests.market_helpers import data, error_code, market_api, seed_base_model
from tests.market_runs_helpers import (
    consumer,
    published_model,
    run,
    seed_tars_model,
    wait_status,
)
from tests.stack_fixture import IDLE_MODEL

PROMPT = {"prompt": "a lighthouse at dusk"}


def _job_entries(account_id: str, job_id: str) -> list[str]:
    return sorted(e["kind"] for e in ledger.entries(account_id) if e.get("job_id") == job_id)


def _money(account_id: str) -> tuple[int, int, int]:
    b = ledger.balance(account_id)
    return b.balance_micros, b.held_micros, b.available_micros


def test_twenty_concurrent_runs_pay_creator_80_percent_and_platform_the_rest(stack) -> None:
    price = 7
    tars = published_model(price_credits=price)
    account_id, client = consumer(market_api(stack), credits=20 * price)

    def start(n: int) -> str:
        return run(client, tars.slug, {**PROMPT, "seed": n})

    with ThreadPoolExecutor(20) as pool:
        run_ids = list(pool.map(start, range(20)))
    assert len(set(run_ids)) == 20
    for run_id in run_ids:
        assert wait_status(client, run_id, {"COMPLETED", "FAILED", "CANCELLED"})["status"] == (
            "COMPLETED"
        )

    price_micros = price * records.CREDIT_MICROS
    assert _money(account_id) == (0, 0, 0)
    creator = ledger.earnings_account(tars.developer_id)
    earnings = ledger_entries(creator, ledger.EntryKind.EARNING)
    assert sorted(e["job_id"] for e in earnings) == sorted(run_ids)
    share = price_micros * 80 // 100
    assert all(e["balance_delta_micros"] == share for e in earnings)
    assert ledger.balance(creator).balance_micros == 20 * share
    revenue = [
        e
        for e in ledger_entries(ledger.PLATFORM_ACCOUNT, ledger.EntryKind.REVENUE)
        if e["job_id"] in run_ids
    ]
    assert sorted(e["balance_delta_micros"] for e in revenue) == [price_micros - share] * 20
    captures = ledger_entries(account_id, ledger.EntryKind.CAPTURE)
    assert sum(-e["balance_delta_micros"] for e in captures) == 20 * price_micros
    for account in (account_id, creator, ledger.PLATFORM_ACCOUNT):
        assert audit.check(account)["ok"], account


def test_the_split_floors_the_creator_share_and_gives_the_platform_the_remainder() -> None:
    from shared.market.split import creator_share

    for captured in (0, 1, 9, 10_000, 70_001, 123_457):
        assert creator_share(captured) == captured * 80 // 100
        assert creator_share(captured) + (captured - creator_share(captured)) == captured
    assert creator_share(70_001) == 56_000  # floor(56,000.8)


def test_a_cancelled_run_costs_nothing(stack) -> None:
    tars = published_model(price_credits=5, runpod_endpoint_id=IDLE_MODEL)
    account_id, client = consumer(market_api(stack), credits=5)
    run_id = run(client, tars.slug, PROMPT)
    assert _money(account_id) == (50_000, 50_000, 0)
    wait_dispatched(run_id)
    body = data(client.post(f"/api/marketplace/runs/{run_id}/cancel"))
    assert body == {"id": run_id, "status": "CANCELLED", "message": "Execution cancelled"}
    assert [r["status"] for r in runs_for(stack, run_id)] == ["CANCELLED"]  # stopped at RunPod
    assert _money(account_id) == (50_000, 0, 50_000)
    assert _job_entries(account_id, run_id) == ["hold", "release"]
    assert (
        ledger_entries(ledger.earnings_account(tars.developer_id), ledger.EntryKind.EARNING) == []
    )
    assert audit.check(account_id)["ok"]


def test_a_failed_run_costs_nothing(stack) -> None:
    # The handler refuses 999 steps (its own limit is 50): the worker reports a failure.
    _, base_id = seed_base_model(
        price_credits=3, fixed_input={"model": "z-image-turbo", "steps": 999}
    )
    tars = seed_tars_model(base_model_id=base_id)
    account_id, client = consumer(market_api(stack), credits=3)
    run_id = run(client, tars.slug, PROMPT)
    status = wait_status(client, run_id, {"COMPLETED", "FAILED", "CANCELLED"})
    assert status["status"] == "FAILED"
    assert status["errorMessage"]
    assert status["outputPayload"] is None
    assert _money(account_id) == (30_000, 0, 30_000)
    assert _job_entries(account_id, run_id) == ["hold", "release"]
    assert (
        ledger_entries(ledger.earnings_account(tars.developer_id), ledger.EntryKind.EARNING) == []
    )
    assert audit.check(account_id)["ok"]


def test_a_consumer_who_cannot_pay_gets_err_4001_and_nothing_is_held(stack) -> None:
    tars = published_model(price_credits=10, runpod_endpoint_id=IDLE_MODEL)
    account_id, client = consumer(market_api(stack), credits=9)
    response = client.post(f"/api/marketplace/models/{tars.slug}/run", json={"inputs": PROMPT})
    assert response.status_code == 400
    assert error_code(response) == "ERR_4001"
    assert response.json()["error"]["details"] == {"requiredCredits": 10, "availableCredits": 9}
    assert _money(account_id) == (90_000, 0, 90_000)
    assert ledger_entries(account_id, ledger.EntryKind.HOLD) == []
    assert data(client.get("/api/marketplace/runs")) == []


def test_a_tars_model_price_overrides_the_base_model_price(stack) -> None:
    _, base_id = seed_base_model(
        price_credits=10, max_price_credits=50, runpod_endpoint_id=IDLE_MODEL
    )
    tars = seed_tars_model(base_model_id=base_id, price_credits=40)
    account_id, client = consumer(market_api(stack), credits=40)
    run_id = run(client, tars.slug, PROMPT)
    assert jobs.get(run_id).price_micros == 400_000
    assert _money(account_id) == (400_000, 400_000, 0)
    data(client.post(f"/api/marketplace/runs/{run_id}/cancel"))


def test_models_that_cannot_run_are_refused_and_hold_nothing(stack) -> None:
    api = market_api(stack)
    account_id, client = consumer(api, credits=100)
    _, live_base = seed_base_model(runpod_endpoint_id=IDLE_MODEL)
    _, idle_base = seed_base_model(runpod_endpoint_id=IDLE_MODEL, model_active=False)
    _, dark_endpoint = seed_base_model(runpod_endpoint_id=IDLE_MODEL, endpoint_active=False)
    cases = {
        f"no-such-model-{uuid.uuid4().hex[:8]}": ("ERR_5500", 404),
        seed_tars_model(base_model_id=live_base, status=records.TarsStatus.DRAFT).slug: (
            "ERR_5501",
            400,
        ),
        seed_tars_model(base_model_id=live_base, status=records.TarsStatus.ARCHIVED).slug: (
            "ERR_5501",
            400,
        ),
        seed_tars_model(base_model_id=idle_base).slug: ("ERR_5509", 400),
        seed_tars_model(base_model_id=dark_endpoint).slug: ("ERR_5502", 400),
    }
    for slug, (code, status) in cases.items():
        response = client.post(f"/api/marketplace/models/{slug}/run", json={"inputs": PROMPT})
        assert (response.status_code, error_code(response)) == (status, code), slug
    assert _money(account_id) == (1_000_000, 0, 1_000_000)
    assert ledger_entries(account_id, ledger.EntryKind.HOLD) == []


def test_another_consumers_run_is_err_5506_on_get_status_and_cancel(stack) -> None:
    api = market_api(stack)
    tars = published_model(price_credits=2, runpod_endpoint_id=IDLE_MODEL)
    owner_id, owner = consumer(api, credits=2)
    _, stranger = consumer(api, credits=2)
    run_id = run(owner, tars.slug, PROMPT)
    for method, path in (
        ("GET", f"/api/marketplace/runs/{run_id}"),
        ("GET", f"/api/marketplace/runs/{run_id}/status"),
        ("GET", f"/api/marketplace/runs/{run_id}/status?sync=true"),
        ("POST", f"/api/marketplace/runs/{run_id}/cancel"),
    ):
        response = stranger.request(method, path)
        assert (response.status_code, error_code(response)) == (403, "ERR_5506"), path
    assert jobs.get(run_id).state in (JobState.PENDING, JobState.QUEUED)
    assert ledger.balance(owner_id).held_micros == 20_000
    data(owner.post(f"/api/marketplace/runs/{run_id}/cancel"))


def test_a_terminal_run_is_err_5507_and_stays_as_it_is(stack) -> None:
    tars = published_model(price_credits=2, runpod_endpoint_id=IDLE_MODEL)
    account_id, client = consumer(market_api(stack), credits=2)
    run_id = run(client, tars.slug, PROMPT)
    data(client.post(f"/api/marketplace/runs/{run_id}/cancel"))
    again = client.post(f"/api/marketplace/runs/{run_id}/cancel")
    assert (again.status_code, error_code(again)) == (400, "ERR_5507")
    assert _job_entries(account_id, run_id) == ["hold", "release"]
    assert _money(account_id) == (20_000, 0, 20_000)


def test_unknown_runs_and_other_sites_jobs_are_err_5505(stack) -> None:
    from tests.integration.runpod_faults import idle_create

    account_id, client = consumer(market_api(stack), credits=1)
    pics_job = jobs.submit(idle_create(account_id, micros=10_000))
    for run_id in (str(uuid.uuid4()), pics_job.id):
        for method, path in (
            ("GET", f"/api/marketplace/runs/{run_id}"),
            ("GET", f"/api/marketplace/runs/{run_id}/status"),
            ("POST", f"/api/marketplace/runs/{run_id}/cancel"),
        ):
            response = client.request(method, path)
            assert (response.status_code, error_code(response)) == (404, "ERR_5505"), path
    assert jobs.get(pics_job.id).state is not JobState.CANCELLED
    jobs.finish(pics_job.id, state=JobState.CANCELLED)


def test_sync_status_of_a_run_waiting_at_runpod_asks_runpod_and_changes_nothing(stack) -> None:
    tars = published_model(price_credits=1, runpod_endpoint_id=IDLE_MODEL)
    account_id, client = consumer(market_api(stack), credits=1)
    run_id = run(client, tars.slug, PROMPT)
    wait_dispatched(run_id)
    body = data(client.get(f"/api/marketplace/runs/{run_id}/status?sync=true"))
    assert body == {
        "id": run_id,
        "status": "QUEUED",
        "outputPayload": None,
        "errorMessage": None,
        "completedAt": None,
        "executionTimeMs": None,
    }
    assert _money(account_id) == (10_000, 10_000, 0)
    data(client.post(f"/api/marketplace/runs/{run_id}/cancel"))


def test_an_idempotency_key_replay_answers_the_same_run_with_one_hold(stack) -> None:
    tars = published_model(price_credits=3, runpod_endpoint_id=IDLE_MODEL)
    account_id, client = consumer(market_api(stack), credits=9)
    key = {"Idempotency-Key": f"run-{uuid.uuid4().hex}"}

    def start(_: int) -> str:
        return run(client, tars.slug, PROMPT, headers=key)

    with ThreadPoolExecutor(5) as pool:
        run_ids = set(pool.map(start, range(5)))
    assert len(run_ids) == 1
    assert start(5) in run_ids
    assert len(ledger_entries(account_id, ledger.EntryKind.HOLD)) == 1
    assert _money(account_id) == (90_000, 30_000, 60_000)
    other = client.post(
        f"/api/marketplace/models/{tars.slug}/run",
        json={"inputs": {"prompt": "another"}},
        headers=key,
    )
    assert (other.status_code, error_code(other)) == (409, "ERR_3003")
    assert len(ledger_entries(account_id, ledger.EntryKind.HOLD)) == 1
    data(client.post(f"/api/marketplace/runs/{run_ids.pop()}/cancel"))
