"""Killa Tamata: money taken back (refunds, disputes) in any order, and the balance a user
sees. Every money test ends with the ledger audit."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx

from shared.engine import jobs, ledger
from shared.engine.jobs import JobCreate
from shared.engine.store import db
from shared.providers.stripe import client as stripe_client
from tests.helpers import (
    assert_audited,
    auth,
    ledger_entries,
    media_account,
    media_api,
    stripe_event,
    stripe_url,
)
from tests.stack_fixture import IDLE_MODEL


def _balance(api: str, key: str) -> dict[str, Any]:
    return httpx.get(f"{api}/balance", headers=auth(key)).json()


def _wait_balance(api: str, key: str, micros: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (seen := _balance(api, key)["balanceUsdMicros"]) != micros:
        assert time.monotonic() < deadline, f"balance {seen} never became {micros}"
        time.sleep(0.2)


def _resend(stack: Any, event_id: str) -> None:
    assert httpx.post(f"{stripe_url(stack)}/_local/events/{event_id}/resend").status_code == 200


@contextlib.contextmanager
def _checkout_completions_delayed(stack: Any) -> Iterator[None]:
    """Stripe's webhook endpoints stop receiving checkout events (charges still arrive),
    as when `checkout.session.completed` is delayed behind a refund."""
    base = f"{stripe_url(stack)}/_local/webhook_endpoints"
    endpoints = httpx.get(base).json()["data"]

    def replace(events: list[str]) -> None:
        for endpoint in httpx.get(base).json()["data"]:
            httpx.delete(f"{base}/{endpoint['id']}")
        for endpoint in endpoints:
            added = httpx.post(
                base,
                json={
                    "url": endpoint["url"],
                    "secret": endpoint["secret"],
                    "enabled_events": events,
                },
            )
            assert added.status_code == 200, added.text

    replace(["charge.*"])
    try:
        yield
    finally:
        replace(["*"])


def _checkout(stack: Any, key: str, package: str = "creator_20") -> str:
    created = httpx.post(
        f"{media_api(stack)}/checkout/stripe", json={"packageCode": package}, headers=auth(key)
    )
    assert created.status_code == 201, created.text
    return created.json()["sessionId"]


def _pay(stack: Any, session_id: str) -> str:
    done = httpx.post(f"{stripe_url(stack)}/_local/checkout/{session_id}/complete")
    assert done.status_code == 200, done.text
    return stripe_client().v1.checkout.sessions.retrieve(session_id).payment_intent


def test_refund_before_the_credit_nets_to_zero_once(stack: Any) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    session_id = _checkout(stack, key)
    with _checkout_completions_delayed(stack):
        intent = _pay(stack, session_id)
        stripe_client().v1.refunds.create(params={"payment_intent": intent})
        charge = stripe_client().v1.payment_intents.retrieve(intent).latest_charge
        refunded = stripe_event(stack, "charge.refunded", charge)
        deadline = time.monotonic() + 20
        while not ledger_entries(account_id, ledger.EntryKind.REFUND):
            assert time.monotonic() < deadline, "the refund was never applied"
            time.sleep(0.2)
    # The delayed completion arrives now, twice, and the refund is replayed: nothing moves.
    completed = stripe_event(stack, "checkout.session.completed", session_id)
    for event_id in (completed["id"], completed["id"], refunded["id"]):
        _resend(stack, event_id)
    claim = httpx.post(f"{api}/claim/stripe", json={"sessionId": session_id}, headers=auth(key))
    assert claim.status_code == 200, claim.text
    time.sleep(1.5)
    assert _balance(api, key)["balanceUsdMicros"] == 0
    assert claim.json()["currentBalanceUsdMicros"] == 0
    topups = ledger_entries(account_id, ledger.EntryKind.TOPUP)
    refunds = ledger_entries(account_id, ledger.EntryKind.REFUND)
    assert [e["balance_delta_micros"] for e in topups] == [20_000_000]
    assert [e["balance_delta_micros"] for e in refunds] == [-20_000_000]
    record = db().collection("topups").document(f"stripe:{session_id}").get().to_dict()
    assert record["refund_micros"] == 20_000_000 and record["unrecovered_micros"] == 0
    assert_audited(account_id)


def test_won_dispute_recredits_once_even_when_replayed(stack: Any) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    session_id = _checkout(stack, key)
    intent = _pay(stack, session_id)
    _wait_balance(api, key, 20_000_000)
    charge = stripe_client().v1.payment_intents.retrieve(intent).latest_charge
    dispute = httpx.post(f"{stripe_url(stack)}/_local/charges/{charge}/dispute").json()
    _wait_balance(api, key, 0)
    closed = httpx.post(
        f"{stripe_url(stack)}/_local/disputes/{dispute['id']}/close", json={"status": "won"}
    )
    assert closed.status_code == 200, closed.text
    _wait_balance(api, key, 20_000_000)
    event = stripe_event(stack, "charge.dispute.closed", dispute["id"])
    _resend(stack, event["id"])
    _resend(stack, event["id"])
    time.sleep(1.5)
    assert _balance(api, key)["balanceUsdMicros"] == 20_000_000
    assert len(ledger_entries(account_id, ledger.EntryKind.CHARGEBACK)) == 1
    reinstated = ledger_entries(account_id, ledger.EntryKind.REINSTATEMENT)
    assert [e["balance_delta_micros"] for e in reinstated] == [20_000_000]
    record = db().collection("topups").document(f"stripe:{session_id}").get().to_dict()
    assert record["chargeback_micros"] == 0 and record["unrecovered_micros"] == 0
    assert_audited(account_id)


def test_media_balance_shows_money_held_by_a_pics_job_as_not_spendable(stack: Any) -> None:
    api = media_api(stack)
    account_id, key = media_account(micros=5_000_000)
    jobs.submit(
        JobCreate(
            account_id=account_id,
            site="pics",
            model=IDLE_MODEL,  # a RunPod endpoint with no workers: the hold stays
            backend="runpod",
            input={},
            price_micros=1_200_000,
        )
    )
    body = _balance(api, key)
    assert body["balanceUsdMicros"] == 3_800_000
    assert body["availableUsdMicros"] == 3_800_000
    assert body["heldUsdMicros"] == 1_200_000
    assert_audited(account_id)
