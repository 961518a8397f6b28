"""Tarsify creator payouts: only earned money leaves, once, and comes back once.

Stripe here is the local Stripe server of the stack (Connect accounts, onboarding,
transfers, reversals, signed events delivered to stripe_webhook), so these are the
production code paths. Earnings are written as the runs' settlement writes them (an
EARNING entry on the creator's earnings account). The module ends with the ledger audit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.engine import clock, dispatch, identity, ledger
from shared.engine.store import db
from shared.market import payout_events, payouts, records
from shared.providers.stripe import client as stripe_client
from tests.helpers import (
    assert_audited,
    ledger_entries,
    media_api,
    new_account,
    stripe_event,
    stripe_url,
)
from tests.market_helpers import Client, data, error_code, market_api, register_developer

STRIPE_SECRET = "whsec_local"
CREDIT = records.CREDIT_MICROS


def developer(stack: Any, *, prepaid_credits: int = 0) -> tuple[str, Client]:
    """A registered developer (profile written as registration writes it) and its client."""
    account_id, key = new_account(site=identity.Site.MARKET, credits=prepaid_credits)
    register_developer(account_id)
    return account_id, Client(market_api(stack), key)


def earn(account_id: str, credits: int) -> str:
    """A market run's earning for the creator; returns the (fake) job id."""
    job_id = str(uuid.uuid4())
    ledger.credit(
        account_id=ledger.earnings_account(account_id),
        kind=ledger.EntryKind.EARNING,
        ref=job_id,
        micros=credits * CREDIT,
        memo=f"market:{uuid.uuid4()}",
    )
    return job_id


def earnings_micros(account_id: str) -> int:
    return ledger.balance(ledger.earnings_account(account_id)).balance_micros


def connected(stack: Any, account_id: str, client: Client, *, onboard: bool = True) -> str:
    """Connect the developer's Stripe account (and finish onboarding); returns its id."""
    link = data(client.post("/api/studio/payouts/connect-stripe", json={}))
    assert link["onboardingUrl"].startswith(stripe_url(stack))
    stripe_account = db().collection(records.DEVELOPERS).document(account_id).get()
    acct = str(stripe_account.get("stripe_account_id"))
    assert acct.startswith("acct_")
    if onboard:
        done = httpx.post(f"{stripe_url(stack)}/_local/accounts/{acct}/onboard")
        assert done.status_code == 200, done.text
    return acct


def _signed(payload: bytes) -> str:
    ts = int(time.time())
    mac = hmac.new(STRIPE_SECRET.encode(), f"{ts}.".encode() + payload, hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


def deliver_ten_times(stack: Any, event: dict[str, Any]) -> list[str]:
    """The event, signed, delivered 10 times at once to the Stripe webhook."""
    payload = json.dumps(event).encode()
    url = f"{media_api(stack)}/webhooks/stripe"

    def deliver(_: int) -> str:
        headers = {"Stripe-Signature": _signed(payload), "Content-Type": "application/json"}
        response = httpx.post(url, content=payload, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return str(response.json()["outcome"])

    with ThreadPoolExecutor(10) as pool:
        return list(pool.map(deliver, range(10)))


def payout_status(payout_id: str, want: str, timeout: float = 15) -> records.PayoutRecord:
    deadline = time.monotonic() + timeout
    while True:
        payout = payouts.current(payout_id)
        assert payout is not None
        if payout.status == want:
            return payout
        assert time.monotonic() < deadline, f"payout {payout_id} stayed {payout.status}"
        time.sleep(0.2)


# --- refusals ------------------------------------------------------------------------------


def test_payout_below_the_minimum_is_err_4002(stack) -> None:
    account_id, client = developer(stack)
    earn(account_id, 10_000)
    response = client.post("/api/studio/payouts/request", json={"amount": 4_999})
    assert response.status_code == 400 and error_code(response) == "ERR_4002"
    assert earnings_micros(account_id) == 10_000 * CREDIT


def test_payout_body_must_be_an_integer_amount(stack) -> None:
    _, client = developer(stack)
    missing = client.post("/api/studio/payouts/request", json={})
    assert missing.status_code == 400 and error_code(missing) == "ERR_2004"
    for bad in (
        {"amount": "5000"},
        {"amount": 5000.5},
        {"amount": 5000, "currency": "usd"},
        {"amount": 10**13},
    ):
        response = client.post("/api/studio/payouts/request", json=bad)
        assert response.status_code == 400 and error_code(response) == "ERR_2001", bad


def test_payout_without_a_connected_stripe_account_is_err_3004(stack) -> None:
    account_id, client = developer(stack)
    earn(account_id, 10_000)
    response = client.post("/api/studio/payouts/request", json={"amount": 5_000})
    assert response.status_code == 422 and error_code(response) == "ERR_3004"
    # Connected but onboarding unfinished: transfers are not active yet, same answer.
    connected(stack, account_id, client, onboard=False)
    response = client.post("/api/studio/payouts/request", json={"amount": 5_000})
    assert response.status_code == 422 and error_code(response) == "ERR_3004"
    assert earnings_micros(account_id) == 10_000 * CREDIT
    assert data(client.get("/api/studio/payouts")) == []


def test_payout_above_earnings_is_err_4001_even_with_a_large_prepaid_balance(stack) -> None:
    account_id, client = developer(stack, prepaid_credits=1_000_000)
    connected(stack, account_id, client)
    earn(account_id, 6_000)
    response = client.post("/api/studio/payouts/request", json={"amount": 6_001})
    assert response.status_code == 400 and error_code(response) == "ERR_4001"
    # Prepaid credit is not earnings: with no earnings at all nothing can be paid.
    other_id, other = developer(stack, prepaid_credits=1_000_000)
    connected(stack, other_id, other)
    response = other.post("/api/studio/payouts/request", json={"amount": 5_000})
    assert response.status_code == 400 and error_code(response) == "ERR_4001"
    assert ledger.balance(other_id).balance_micros == 1_000_000 * CREDIT
    assert earnings_micros(account_id) == 6_000 * CREDIT
    assert_audited(account_id, other_id)


def test_unregistered_caller_is_err_1004(stack) -> None:
    _, key = new_account(site=identity.Site.MARKET)
    client = Client(market_api(stack), key)
    for method, path in (
        ("GET", "/api/studio/payouts"),
        ("POST", "/api/studio/payouts/request"),
        ("POST", "/api/studio/payouts/connect-stripe"),
    ):
        body = {"amount": 5_000} if path.endswith("request") else {}
        response = client.request(method, path, json=body)
        assert response.status_code == 404 and error_code(response) == "ERR_1004", path


# --- Connect onboarding -------------------------------------------------------------------


def test_connect_stripe_creates_one_account_and_returns_an_onboarding_link(stack) -> None:
    account_id, client = developer(stack)
    body = {
        "returnUrl": "https://studio.example.com/settings/payouts",
        "refreshUrl": "https://studio.example.com/settings/payouts?refresh=true",
    }
    with ThreadPoolExecutor(5) as pool:
        answers = list(
            pool.map(
                lambda _: client.post("/api/studio/payouts/connect-stripe", json=body), range(5)
            )
        )
    links = [data(a) for a in answers]
    assert all(
        link["onboardingUrl"].startswith(f"{stripe_url(stack)}/connect/onboard/") for link in links
    )
    assert all(link["expiresAt"].endswith("Z") for link in links)
    acct = db().collection(records.DEVELOPERS).document(account_id).get().get("stripe_account_id")
    made = [
        a
        for a in stripe_client().v1.accounts.list(params={"limit": 100}).data
        if a.to_dict()["metadata"].get("relay_account_id") == account_id
    ]
    assert [a.id for a in made] == [acct]
    assert made[0].type == "express"
    # The onboarding page finishes onboarding; a later call links the same account again.
    httpx.post(f"{stripe_url(stack)}/_local/accounts/{acct}/onboard").raise_for_status()
    again = data(client.post("/api/studio/payouts/connect-stripe"))
    assert again["onboardingUrl"] != links[0]["onboardingUrl"]
    assert (
        db().collection(records.DEVELOPERS).document(account_id).get().get("stripe_account_id")
        == acct
    )


def test_connect_stripe_refuses_urls_that_are_not_web_urls(stack) -> None:
    _, client = developer(stack)
    for bad in ({"returnUrl": "javascript:alert(1)"}, {"refreshUrl": "ftp://x"}, {"x": 1}):
        response = client.post("/api/studio/payouts/connect-stripe", json=bad)
        assert response.status_code == 400 and error_code(response) == "ERR_2001", bad


# --- paying out ---------------------------------------------------------------------------


def test_paid_payout_debits_earnings_once_under_ten_deliveries(stack) -> None:
    account_id, client = developer(stack)
    acct = connected(stack, account_id, client)
    earn(account_id, 7_000)
    created = data(client.post("/api/studio/payouts/request", json={"amount": 5_000}), 201)
    assert created["amount"] == 5_000 and created["status"] in ("processing", "completed")
    assert set(created) == {"id", "amount", "status", "estimatedArrival", "requestedAt"}
    payout = payout_status(created["id"], "completed")  # Stripe's own delivery
    event = stripe_event(stack, "transfer.created", str(payout.stripe_transfer_id))
    assert event["data"]["object"]["destination"] == acct
    outcomes = deliver_ten_times(stack, event)
    assert set(outcomes) == {"already settled"}
    assert earnings_micros(account_id) == 2_000 * CREDIT
    assert len(ledger_entries(ledger.earnings_account(account_id), ledger.EntryKind.PAYOUT)) == 1
    listed = data(client.get("/api/studio/payouts"))
    assert [(p["id"], p["status"], p["amount"]) for p in listed] == [
        (created["id"], "completed", 5_000)
    ]
    assert listed[0]["stripeTransferId"] == payout.stripe_transfer_id
    assert listed[0]["processedAt"] is not None
    summary = data(client.get("/api/studio/earnings"))
    assert summary["totalPaidOut"] == 5_000 and summary["pendingPayout"] == 0
    assert summary["availableForPayout"] == 2_000
    assert_audited(account_id)


def test_reversed_transfer_returns_the_money_once_under_ten_deliveries(stack) -> None:
    account_id, client = developer(stack)
    connected(stack, account_id, client)
    earn(account_id, 5_000)
    created = data(client.post("/api/studio/payouts/request", json={"amount": 5_000}), 201)
    transfer_id = str(payout_status(created["id"], "completed").stripe_transfer_id)
    assert earnings_micros(account_id) == 0
    stripe_client().v1.transfers.reversals.create(transfer_id)
    failed = payout_status(created["id"], "failed")
    assert failed.failure_reason == "transfer reversed"
    event = stripe_event(stack, "transfer.reversed", transfer_id)
    assert set(deliver_ten_times(stack, event)) == {"already failed"}
    # A late copy of the creation event cannot bring a failed payout back.
    created_event = stripe_event(stack, "transfer.created", transfer_id)
    assert set(deliver_ten_times(stack, created_event)) == {"already settled"}
    assert earnings_micros(account_id) == 5_000 * CREDIT
    returned = ledger_entries(ledger.earnings_account(account_id), ledger.EntryKind.PAYOUT_REVERSAL)
    assert [e["ref"] for e in returned] == [created["id"]]
    failed_list = data(client.get("/api/studio/payouts", params={"status": "failed"}))
    assert [p["id"] for p in failed_list] == [created["id"]]
    assert data(client.get("/api/studio/payouts", params={"status": "completed"})) == []
    assert_audited(account_id)


def test_two_concurrent_requests_for_all_earnings_pay_once(stack) -> None:
    account_id, client = developer(stack)
    connected(stack, account_id, client)
    earn(account_id, 5_000)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda _: client.post("/api/studio/payouts/request", json={"amount": 5_000}),
                range(2),
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 400], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 400)
    assert error_code(loser) == "ERR_4001"
    assert earnings_micros(account_id) == 0
    assert len(data(client.get("/api/studio/payouts"))) == 1
    assert_audited(account_id)


def test_a_retried_request_with_its_idempotency_key_pays_once(stack) -> None:
    account_id, client = developer(stack)
    connected(stack, account_id, client)
    earn(account_id, 12_000)
    key = {"Idempotency-Key": f"payout-{uuid.uuid4()}"}

    def request(amount: int) -> Any:
        return client.post("/api/studio/payouts/request", json={"amount": amount}, headers=key)

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: request(5_000), range(5)))
    ids = {data(a, 201)["id"] for a in answers if a.status_code == 201}
    assert len(ids) == 1, [a.text for a in answers]
    assert all(a.status_code == 201 or error_code(a) == "ERR_3003" for a in answers), [
        a.text for a in answers
    ]
    assert data(request(5_000), 201)["id"] in ids  # a later retry: the same payout
    other = request(6_000)
    assert other.status_code == 409 and error_code(other) == "ERR_3003"
    assert earnings_micros(account_id) == 7_000 * CREDIT
    assert len(ledger_entries(ledger.earnings_account(account_id), ledger.EntryKind.PAYOUT)) == 1
    bad = client.post(
        "/api/studio/payouts/request",
        json={"amount": 5_000},
        headers={"Idempotency-Key": "k" * 300},
    )
    assert bad.status_code == 400 and error_code(bad) == "ERR_2001"
    assert len(data(client.get("/api/studio/payouts"))) == 1
    assert_audited(account_id)


def _debited_payout(account_id: str, *, destination: str, credits: int) -> records.PayoutRecord:
    """A payout whose debit landed but whose transfer was never sent (a request that lost
    its network after the debit), requested long enough ago for the sweep."""
    requested = clock.now() - dt.timedelta(minutes=10)
    payout = records.PayoutRecord(
        id=str(uuid.uuid4()),
        account_id=account_id,
        amount_credits=credits,
        stripe_account_id=destination,
        requested_at=requested,
        estimated_arrival=requested + dt.timedelta(days=2),
    )

    def with_record(batch: Any) -> None:
        batch.create(
            db().collection(records.PAYOUTS).document(payout.id),
            payout.model_dump(mode="python", exclude={"id"}),
        )

    assert ledger.debit(
        account_id=ledger.earnings_account(account_id),
        kind=ledger.EntryKind.PAYOUT,
        ref=payout.id,
        micros=credits * CREDIT,
        extra=with_record,
    )
    return payout


def test_sweep_sends_a_pending_payout_once(stack) -> None:
    account_id, client = developer(stack)
    acct = connected(stack, account_id, client)
    earn(account_id, 5_000)
    payout = _debited_payout(account_id, destination=acct, credits=5_000)
    # The engine's scheduled sweep runs the market's hook (registered by importing the site).
    counts = dispatch.sweep()
    assert counts["market_payouts_retried"] >= 1 and counts["errors"] == 0, counts
    payout_events.sweep(clock.now())
    assert payout_status(payout.id, "completed").stripe_transfer_id
    made = stripe_client().v1.transfers.list(params={"transfer_group": payout.id}).data
    assert len(made) == 1 and made[0].amount == 5_000
    assert earnings_micros(account_id) == 0
    assert_audited(account_id)


def test_transfer_stripe_refuses_fails_the_payout_and_returns_the_money_once(stack) -> None:
    account_id, _ = developer(stack)
    earn(account_id, 6_000)
    payout = _debited_payout(account_id, destination="acct_doesnotexist", credits=5_000)
    assert earnings_micros(account_id) == 1_000 * CREDIT
    failed = payouts.send_transfer(payout)
    assert failed.status == records.PayoutStatus.FAILED
    assert payouts.send_transfer(payout).status == records.PayoutStatus.FAILED
    payout_events.sweep(clock.now())
    assert earnings_micros(account_id) == 6_000 * CREDIT
    returned = ledger_entries(ledger.earnings_account(account_id), ledger.EntryKind.PAYOUT_REVERSAL)
    assert len(returned) == 1
    assert_audited(account_id)


@pytest.mark.parametrize(
    "params",
    [{"status": "paid"}, {"page": "0"}, {"limit": "101"}, {"limit": "x"}, {"page": "1.5"}],
)
def test_payout_list_refuses_bad_query_with_err_2002(stack, params) -> None:
    _, client = developer(stack)
    response = client.get("/api/studio/payouts", params=params)
    assert response.status_code == 400 and error_code(response) == "ERR_2002"


def test_payout_list_pages_newest_first(stack) -> None:
    account_id, client = developer(stack)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ids = []
    for n, status in enumerate(["completed", "processing", "failed"]):
        payout = records.PayoutRecord(
            id=str(uuid.uuid4()),
            account_id=account_id,
            amount_credits=5_000 + n,
            status=records.PayoutStatus(status),
            stripe_account_id="acct_x",
            requested_at=base + dt.timedelta(days=n),
        )
        db().collection(records.PAYOUTS).document(payout.id).set(
            payout.model_dump(mode="python", exclude={"id"})
        )
        ids.append(payout.id)
    body = client.get("/api/studio/payouts", params={"limit": 2}).json()
    assert [p["id"] for p in body["data"]] == [ids[2], ids[1]]
    assert body["meta"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2}
    second = client.get("/api/studio/payouts", params={"limit": 2, "page": 2}).json()
    assert [p["id"] for p in second["data"]] == [ids[0]]
    assert second["data"][0]["requestedAt"] == "2026-01-01T00:00:00Z"
    processing = data(client.get("/api/studio/payouts", params={"status": "processing"}))
    assert [p["id"] for p in processing] == [ids[1]]
