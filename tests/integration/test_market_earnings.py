"""Tarsify creator earnings and analytics: the numbers on a known set of runs and entries.

Runs are written as the engine stores a settled market job (the jobs collection, site
"market", site_fields naming the tars model and its creator); earnings as the runs'
settlement writes them (the creator's EARNING and the platform's REVENUE with the job id as
ref). Each test makes its own developer, so the figures are exact.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from shared.engine import clock, identity, ledger
from shared.engine.job_records import JobRecord, JobState
from shared.engine.store import JOBS, LEDGER, db
from shared.market import records
from tests.helpers import new_account
from tests.market_helpers import Client, data, error_code, market_api, register_developer
from tests.market_runs_helpers import seed_tars_model

CREDIT = records.CREDIT_MICROS


def developer(stack: Any) -> tuple[str, Client]:
    account_id, key = new_account(site=identity.Site.MARKET)
    register_developer(account_id)
    return account_id, Client(market_api(stack), key)


def tars_model(developer_id: str, title: str) -> str:
    """A tars model of the developer (on a base model the test never needs)."""
    return seed_tars_model(base_model_id=str(uuid.uuid4()), creator_id=developer_id, title=title).id


def run(
    *,
    creator: str,
    model_id: str,
    title: str,
    when: dt.datetime,
    consumer: str = "consumer-1",
    state: JobState = JobState.COMPLETED,
    runtime_s: int = 10,
    price_micros: int = 0,
) -> str:
    """A settled market job (no hold: the settlement is not what these tests are about)."""
    job = JobRecord(
        id=str(uuid.uuid4()),
        account_id=consumer,
        site=records.SITE,
        model="z-image-turbo",
        backend="runpod",
        input={},
        state=state,
        price_micros=price_micros,
        captured_micros=price_micros if state is JobState.COMPLETED else 0,
        site_fields={"tars_model_id": model_id, "creator_id": creator, "title": title},
        created_at=when,
        started_at=when,
        completed_at=when + dt.timedelta(seconds=runtime_s),
        timeout_at=when + dt.timedelta(hours=1),
    )
    db().collection(JOBS).document(job.id).set(job.model_dump(mode="python", exclude={"id"}))
    return job.id


def earned(
    *, creator: str, model_id: str, job_id: str, capture_micros: int, when: dt.datetime
) -> None:
    """The shares of a capture: the creator's 80% (rounded down), the platform the rest."""
    net = capture_micros * records.CREATOR_SHARE_PERCENT // 100
    for account, kind, micros in (
        (ledger.earnings_account(creator), ledger.EntryKind.EARNING, net),
        (ledger.PLATFORM_ACCOUNT, ledger.EntryKind.REVENUE, capture_micros - net),
    ):
        ledger.credit(
            account_id=account, kind=kind, ref=job_id, micros=micros, memo=f"market:{model_id}"
        )
        db().collection(LEDGER).document(ledger.entry_id(kind, job_id)).update({"created_at": when})


def paid_run(creator: str, model_id: str, title: str, credits: int, when: dt.datetime) -> str:
    job_id = run(
        creator=creator, model_id=model_id, title=title, when=when, price_micros=credits * CREDIT
    )
    earned(
        creator=creator,
        model_id=model_id,
        job_id=job_id,
        capture_micros=credits * CREDIT,
        when=when,
    )
    return job_id


def _month_start(now: dt.datetime) -> dt.datetime:
    return dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)


# --- /earnings and /earnings/history ------------------------------------------------------


def test_earnings_summary_and_history_on_known_entries(stack) -> None:
    dev, client = developer(stack)
    model = tars_model(dev, "Upscaler")
    now = clock.now()
    this_month = max(_month_start(now), now - dt.timedelta(minutes=1))
    last_month = _month_start(now) - dt.timedelta(days=3)
    two_months_ago = _month_start(now) - dt.timedelta(days=40)
    big = paid_run(dev, model, "Upscaler", 100, this_month)  # 80 net, 20 fee
    small = paid_run(dev, model, "Upscaler", 1, this_month + dt.timedelta(seconds=1))  # 0.8 net
    previous = paid_run(dev, model, "Upscaler", 50, last_month)  # 40 net, 10 fee
    oldest = paid_run(dev, model, "Upscaler", 25, two_months_ago)  # 20 net, 5 fee
    # Earnings that are not the market's (a grid worker's) are paid out but are not sales.
    ledger.credit(
        account_id=ledger.earnings_account(dev),
        kind=ledger.EntryKind.EARNING,
        ref=str(uuid.uuid4()),
        micros=30 * CREDIT,
        memo="grid worker",
    )
    for status, amount in (
        ("processing", 5_000),
        ("pending", 6_000),
        ("completed", 7_000),
        ("failed", 9_000),
    ):
        payout = records.PayoutRecord(
            id=str(uuid.uuid4()),
            account_id=dev,
            amount_credits=amount,
            status=records.PayoutStatus(status),
            stripe_account_id="acct_x",
            requested_at=now,
        )
        db().collection(records.PAYOUTS).document(payout.id).set(
            payout.model_dump(mode="python", exclude={"id"})
        )
    summary = data(client.get("/api/studio/earnings"))
    assert summary == {
        "totalEarnings": 140,  # 80 + 0.8 + 40 + 20 = 140.8, rounded down once
        "pendingPayout": 11_000,
        "totalPaidOut": 7_000,
        "platformFeeRate": 0.2,
        "thisMonth": {"gross": 101, "platformFee": 21, "net": 80},
        "lastMonth": {"gross": 50, "platformFee": 10, "net": 40},
        "availableForPayout": 170,  # 140.8 + 30, rounded down
    }
    body = client.get("/api/studio/earnings/history").json()
    assert body["meta"] == {"page": 1, "limit": 50, "total": 4, "totalPages": 1}
    rows = body["data"]
    assert [r["executionId"] for r in rows] == [small, big, previous, oldest]
    assert rows[1] == {
        "id": f"earning:{big}",
        "notebookId": model,
        "notebookTitle": "Upscaler",
        "executionId": big,
        "creditsEarned": 100,
        "platformFee": 20,
        "netEarning": 80,
        "createdAt": records.iso(this_month),
    }
    assert (rows[0]["creditsEarned"], rows[0]["platformFee"], rows[0]["netEarning"]) == (1, 1, 0)
    paged = client.get("/api/studio/earnings/history", params={"limit": 3, "page": 2}).json()
    assert [r["executionId"] for r in paged["data"]] == [oldest]
    assert paged["meta"] == {"page": 2, "limit": 3, "total": 4, "totalPages": 2}
    # from/to: dates take whole UTC days, datetimes are exact, both ends included.
    day = last_month.date().isoformat()
    only_last = data(client.get("/api/studio/earnings/history", params={"from": day, "to": day}))
    assert [r["executionId"] for r in only_last] == [previous]
    since = records.iso(this_month)
    recent = data(client.get("/api/studio/earnings/history", params={"from": since}))
    assert [r["executionId"] for r in recent] == [small, big]
    until = data(client.get("/api/studio/earnings/history", params={"to": records.iso(last_month)}))
    assert [r["executionId"] for r in until] == [previous, oldest]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2026-13-01"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"limit": "0"},
        {"limit": "101"},
        {"page": "0"},
        {"page": "two"},
    ],
)
def test_earnings_history_refuses_bad_query_with_err_2002(stack, params) -> None:
    _, client = developer(stack)
    response = client.get("/api/studio/earnings/history", params=params)
    assert response.status_code == 400 and error_code(response) == "ERR_2002", params


def test_earnings_of_an_unregistered_caller_is_err_1004(stack) -> None:
    _, key = new_account(site=identity.Site.MARKET)
    client = Client(market_api(stack), key)
    for path in ("/api/studio/earnings", "/api/studio/earnings/history", "/api/studio/analytics"):
        response = client.get(path)
        assert response.status_code == 404 and error_code(response) == "ERR_1004", path


# --- /analytics ---------------------------------------------------------------------------


def test_analytics_counts_runs_consumers_success_and_earnings(stack) -> None:
    dev, client = developer(stack)
    other_dev, _ = developer(stack)
    upscaler = tars_model(dev, "Upscaler")
    painter = tars_model(dev, "Painter")
    now = clock.now()
    today = now - dt.timedelta(seconds=5)
    paid_run(dev, upscaler, "Upscaler", 10, today)  # 8 net
    paid_run(dev, upscaler, "Upscaler", 10, today)
    run(
        creator=dev,
        model_id=upscaler,
        title="Upscaler",
        when=today,
        consumer="c2",
        state=JobState.FAILED,
    )
    paid_run(dev, painter, "Painter", 50, now - dt.timedelta(days=10))  # 40 net, outside 7d
    foreign = tars_model(other_dev, "Theirs")
    paid_run(other_dev, foreign, "Theirs", 99, today)

    week = data(client.get("/api/studio/analytics", params={"period": "7d"}))
    assert week["period"] == "7d"
    assert week["summary"] == {
        "totalRuns": 3,
        "totalEarnings": 16,
        "avgRating": None,
        "totalReviews": 0,
        "uniqueConsumers": 2,
        "successRate": 66.7,
    }
    assert len(week["trends"]["runs"]) == 7
    assert week["trends"]["runs"][-1] == {"date": now.date().isoformat(), "value": 3}
    assert sum(d["value"] for d in week["trends"]["runs"]) == 3
    assert week["trends"]["earnings"][-1] == {"date": now.date().isoformat(), "value": 16}
    assert week["topNotebooks"] == [
        {"id": upscaler, "title": "Upscaler", "runs": 3, "earnings": 16}
    ]

    month = data(client.get("/api/studio/analytics"))  # default 30d
    assert month["period"] == "30d" and len(month["trends"]["runs"]) == 30
    assert month["summary"]["totalRuns"] == 4 and month["summary"]["totalEarnings"] == 56
    assert [n["id"] for n in month["topNotebooks"]] == [painter, upscaler]
    every = data(client.get("/api/studio/analytics", params={"period": "all"}))
    assert every["summary"]["totalRuns"] == 4
    assert every["trends"]["runs"][0]["date"] == (now - dt.timedelta(days=10)).date().isoformat()

    one = data(client.get(f"/api/studio/analytics/notebooks/{upscaler}", params={"period": "7d"}))
    assert one["notebookId"] == upscaler and one["period"] == "7d"
    assert one["summary"] == {
        "totalRuns": 3,
        "totalEarnings": 16,
        "avgRuntime": 10.0,
        "successRate": 66.7,
        "rating": None,
        "reviewCount": 0,
        "uniqueConsumers": 2,
    }
    assert one["trends"]["runs"][-1]["value"] == 3 and len(one["trends"]["runs"]) == 7


def test_notebook_analytics_refuses_other_and_unknown_models(stack) -> None:
    _, client = developer(stack)
    other_dev, _ = developer(stack)
    theirs = tars_model(other_dev, "Theirs")
    for model_id in (theirs, str(uuid.uuid4())):
        response = client.get(f"/api/studio/analytics/notebooks/{model_id}")
        assert response.status_code == 404 and error_code(response) == "ERR_5500"
    bad = client.get("/api/studio/analytics/notebooks/not-a-uuid")
    assert bad.status_code == 400 and error_code(bad) == "ERR_2003"


@pytest.mark.parametrize("period", ["1d", "30", "ALL", ""])
def test_analytics_refuses_an_unknown_period_with_err_2002(stack, period) -> None:
    _, client = developer(stack)
    for path in ("/api/studio/analytics", f"/api/studio/analytics/notebooks/{uuid.uuid4()}"):
        response = client.get(path, params={"period": period})
        assert response.status_code == 400 and error_code(response) == "ERR_2002", path
