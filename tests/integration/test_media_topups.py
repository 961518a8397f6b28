"""Killa Tamata top-ups: money enters exactly once, whichever way and however often it comes.

Stripe and Coinbase Commerce here (x402 in test_media_x402.py). Each provider's stand-in
runs in the stack and speaks the provider's API and signatures, so these are the production
code paths. Every money test ends with the ledger audit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from shared.engine import ledger
from shared.engine.store import db
from shared.providers.stripe import client as stripe_client
from tests.helpers import (
    assert_audited,
    auth,
    ledger_entries,
    media_account,
    media_api,
    media_balance,
    stripe_event,
    stripe_url,
)

STRIPE_SECRET = "whsec_local"
COINBASE_SECRET = "coinbase_whsec_local"


def _coinbase(stack) -> str:
    return f"http://127.0.0.1:{stack.ports['coinbase']}"


def _waitmedia_balance(api: str, key: str, micros: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while media_balance(api, key) != micros:
        assert time.monotonic() < deadline, f"balance never became {micros}"
        time.sleep(0.2)


def _stripe_signed(payload: bytes) -> str:
    ts = int(time.time())
    mac = hmac.new(STRIPE_SECRET.encode(), f"{ts}.".encode() + payload, hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


def _paid_stripe_checkout(stack, key: str, package: str = "creator_20") -> str:
    api = media_api(stack)
    created = httpx.post(f"{api}/checkout/stripe", json={"packageCode": package}, headers=auth(key))
    assert created.status_code == 201, created.text
    session_id = created.json()["sessionId"]
    assert created.json()["checkoutUrl"].startswith(stripe_url(stack))
    done = httpx.post(f"{stripe_url(stack)}/_local/checkout/{session_id}/complete")
    assert done.status_code == 200, done.text
    return session_id


# --- Stripe ---------------------------------------------------------------------------


def test_stripe_event_ten_times_with_the_claim_credits_once(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    session_id = _paid_stripe_checkout(stack, key)
    event = stripe_event(stack, "checkout.session.completed", session_id)
    payload = json.dumps(event).encode()
    webhook = f"{api}/webhooks/stripe"

    def deliver(_: int) -> int:
        headers = {"Stripe-Signature": _stripe_signed(payload), "Content-Type": "application/json"}
        return httpx.post(webhook, content=payload, headers=headers, timeout=30).status_code

    def claim(_: int) -> httpx.Response:
        return httpx.post(
            f"{api}/claim/stripe", json={"sessionId": session_id}, headers=auth(key), timeout=30
        )

    with ThreadPoolExecutor(13) as pool:
        deliveries = [pool.submit(deliver, i) for i in range(10)]
        claims = [pool.submit(claim, i) for i in range(3)]
        assert all(d.result() == 200 for d in deliveries)
        claimed = [c.result() for c in claims]
    assert all(c.status_code == 200 for c in claimed), [c.text for c in claimed]
    bodies = [c.json() for c in claimed]
    for body in bodies:
        assert body["provider"] == "stripe" and body["sessionId"] == session_id
        assert body["packageCode"] == "creator_20" and body["depositUsdCents"] == 2_000
        assert body["chargeId"] is None
    assert media_balance(api, key) == 20_000_000
    assert len(ledger_entries(account_id, ledger.EntryKind.TOPUP)) == 1
    # Stripe's own resends (to the function's URL) change nothing either.
    for _ in range(3):
        httpx.post(f"{stripe_url(stack)}/_local/events/{event['id']}/resend")
    time.sleep(1)
    assert claim(0).json() == {**bodies[0], "currentBalanceUsdMicros": 20_000_000}
    assert media_balance(api, key) == 20_000_000
    assert_audited(account_id)


def test_unpaid_and_foreign_sessions_are_refused(stack) -> None:
    api = media_api(stack)
    owner_id, owner = media_account()
    thief_id, thief = media_account()
    created = httpx.post(
        f"{api}/checkout/stripe", json={"packageCode": "starter_5"}, headers=auth(owner)
    )
    session_id = created.json()["sessionId"]
    unpaid = httpx.post(f"{api}/claim/stripe", json={"sessionId": session_id}, headers=auth(owner))
    assert unpaid.status_code == 409 and unpaid.json()["error"]["code"] == "payment_pending"
    httpx.post(f"{stripe_url(stack)}/_local/checkout/{session_id}/complete").raise_for_status()
    stolen = httpx.post(f"{api}/claim/stripe", json={"sessionId": session_id}, headers=auth(thief))
    assert stolen.status_code == 403, stolen.text
    unknown = httpx.post(
        f"{api}/claim/stripe", json={"sessionId": "cs_test_nope"}, headers=auth(thief)
    )
    assert unknown.status_code == 404
    assert media_balance(api, thief) == 0
    _waitmedia_balance(api, owner, 5_000_000)
    assert_audited(owner_id, thief_id)


def test_stripe_webhook_with_a_bad_or_missing_signature_writes_nothing(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    created = httpx.post(
        f"{api}/checkout/stripe", json={"packageCode": "starter_5"}, headers=auth(key)
    )
    session_id = created.json()["sessionId"]
    forged = {
        "id": "evt_forged",
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "payment_status": "paid",
                "amount_total": 500,
                "metadata": {
                    "purpose": "media_topup",
                    "account_id": account_id,
                    "package_code": "starter_5",
                },
            }
        },
    }
    payload = json.dumps(forged).encode()
    bad = hmac.new(b"not-the-secret", payload, hashlib.sha256).hexdigest()
    for headers in ({}, {"Stripe-Signature": f"t={int(time.time())},v1={bad}"}):
        response = httpx.post(f"{api}/webhooks/stripe", content=payload, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_request"
    assert media_balance(api, key) == 0 and ledger.entries(account_id) == []


def test_refunds_and_disputes_debit_and_never_go_negative(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    session_id = _paid_stripe_checkout(stack, key, "creator_20")
    _waitmedia_balance(api, key, 20_000_000)
    session = stripe_client().v1.checkout.sessions.retrieve(session_id)
    intent = session.payment_intent
    stripe_client().v1.refunds.create(params={"payment_intent": intent, "amount": 500})
    _waitmedia_balance(api, key, 15_000_000)
    # A second partial refund is its own debit; replays of either change nothing.
    stripe_client().v1.refunds.create(params={"payment_intent": intent, "amount": 300})
    _waitmedia_balance(api, key, 12_000_000)
    refund = stripe_event(
        stack, "charge.refunded", stripe_client().v1.payment_intents.retrieve(intent).latest_charge
    )
    for _ in range(3):
        httpx.post(f"{stripe_url(stack)}/_local/events/{refund['id']}/resend")
    time.sleep(1)
    assert media_balance(api, key) == 12_000_000
    assert len(ledger_entries(account_id, ledger.EntryKind.REFUND)) == 2

    # Spend most of it, then lose a dispute for the whole payment: take what is left.
    second = _paid_stripe_checkout(stack, key, "starter_5")
    _waitmedia_balance(api, key, 17_000_000)
    ledger.debit(  # stands for money spent on jobs
        account_id=account_id,
        kind=ledger.EntryKind.PAYOUT,
        ref=f"spend-{second}",
        micros=16_000_000,
    )
    charge = (
        stripe_client()
        .v1.payment_intents.retrieve(
            stripe_client().v1.checkout.sessions.retrieve(second).payment_intent
        )
        .latest_charge
    )
    disputed = httpx.post(f"{stripe_url(stack)}/_local/charges/{charge}/dispute")
    assert disputed.status_code == 200, disputed.text
    _waitmedia_balance(api, key, 0)
    record = db().collection("topups").document(f"stripe:{second}").get().to_dict()
    assert record["recovered_micros"] == 1_000_000
    assert record["unrecovered_micros"] == 4_000_000
    assert record["chargeback_micros"] == 5_000_000
    first = db().collection("topups").document(f"stripe:{session_id}").get().to_dict()
    assert first["refund_micros"] == 8_000_000 and first["unrecovered_micros"] == 0
    assert len(ledger_entries(account_id, ledger.EntryKind.CHARGEBACK)) == 1
    assert_audited(account_id)


# --- Coinbase Commerce ------------------------------------------------------------------


def _charge(stack, key: str, package: str = "creator_20") -> dict[str, Any]:
    created = httpx.post(
        f"{media_api(stack)}/checkout/crypto", json={"packageCode": package}, headers=auth(key)
    )
    assert created.status_code == 201, created.text
    return created.json()


def _pay(stack, charge_id: str, amount: str) -> None:
    paid = httpx.post(f"{_coinbase(stack)}/_local/charges/{charge_id}/pay", json={"amount": amount})
    assert paid.status_code == 200, paid.text


def _coinbase_event(stack, charge_id: str, kind: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for event in httpx.get(f"{_coinbase(stack)}/_local/events").json()["data"]:
            if event["type"] == kind and event["charge_id"] == charge_id:
                return str(event["id"])
        time.sleep(0.2)
    raise AssertionError(f"no {kind} for {charge_id}")


def test_coinbase_confirmed_replayed_with_claims_credits_once(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    charge = _charge(stack, key)
    assert charge["checkoutUrl"].startswith(_coinbase(stack))
    early = httpx.post(
        f"{api}/claim/crypto", json={"chargeId": charge["chargeId"]}, headers=auth(key)
    )
    assert early.status_code == 409
    _pay(stack, charge["chargeId"], "20.00")
    event_id = _coinbase_event(stack, charge["chargeId"], "charge:confirmed")

    def resend(_: int) -> int:
        return httpx.post(f"{_coinbase(stack)}/_local/events/{event_id}/resend").status_code

    def claim(_: int) -> httpx.Response:
        return httpx.post(
            f"{api}/claim/crypto",
            json={"chargeId": charge["chargeId"]},
            headers=auth(key),
            timeout=30,
        )

    with ThreadPoolExecutor(13) as pool:
        resends = [pool.submit(resend, i) for i in range(10)]
        claims = [pool.submit(claim, i) for i in range(3)]
        assert all(r.result() == 200 for r in resends)
        bodies = [c.result().json() for c in claims]
    for body in bodies:
        assert body["provider"] == "coinbase" and body["chargeId"] == charge["chargeId"]
        assert body["depositUsdCents"] == 2_000 and body["sessionId"] is None
    time.sleep(1)
    assert media_balance(api, key) == 20_000_000
    assert len(ledger_entries(account_id, ledger.EntryKind.TOPUP)) == 1
    assert_audited(account_id)


def test_coinbase_underpaid_overpaid_and_delayed_credit_what_arrived(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    under = _charge(stack, key, "creator_20")
    _pay(stack, under["chargeId"], "12.50")
    _waitmedia_balance(api, key, 12_500_000)
    # The rest arrives later: it is its own payment, credited once.
    _pay(stack, under["chargeId"], "7.50")
    _waitmedia_balance(api, key, 20_000_000)
    over = _charge(stack, key, "starter_5")
    _pay(stack, over["chargeId"], "6.00")
    _waitmedia_balance(api, key, 26_000_000)
    late = _charge(stack, key, "starter_5")
    httpx.post(f"{_coinbase(stack)}/_local/charges/{late['chargeId']}/expire").raise_for_status()
    _pay(stack, late["chargeId"], "5.00")
    _waitmedia_balance(api, key, 31_000_000)
    claimed = httpx.post(
        f"{api}/claim/crypto", json={"chargeId": under["chargeId"]}, headers=auth(key)
    ).json()
    assert claimed["depositUsdCents"] == 2_000
    assert len(ledger_entries(account_id, ledger.EntryKind.TOPUP)) == 4
    assert_audited(account_id)


def test_coinbase_bad_signature_and_foreign_claims_are_refused(stack) -> None:
    api = media_api(stack)
    owner_id, owner = media_account()
    thief_id, thief = media_account()
    charge = _charge(stack, owner, "starter_5")
    body = json.dumps(
        {
            "id": "x",
            "event": {
                "id": "evt-forged",
                "type": "charge:confirmed",
                "data": {"id": charge["chargeId"], "metadata": {"account_id": thief_id}},
            },
        }
    ).encode()
    forged = hmac.new(b"wrong", body, hashlib.sha256).hexdigest()
    for headers in ({}, {"X-CC-Webhook-Signature": forged}):
        response = httpx.post(f"{api}/webhooks/crypto", content=body, headers=headers)
        assert response.status_code == 400, response.text
    _pay(stack, charge["chargeId"], "5.00")
    stolen = httpx.post(
        f"{api}/claim/crypto", json={"chargeId": charge["chargeId"]}, headers=auth(thief)
    )
    assert stolen.status_code == 403
    _waitmedia_balance(api, owner, 5_000_000)
    assert media_balance(api, thief) == 0
    assert_audited(owner_id, thief_id)


def test_a_refund_takes_back_the_same_share_of_the_referrers_commission(stack) -> None:
    api = media_api(stack)
    referrer_id, referrer = media_account()
    applied = httpx.post(
        f"{api}/affiliates/me/apply",
        json={"displayName": "Ref", "contactEmail": "ref@example.com"},
        headers=auth(referrer),
    )
    assert applied.status_code == 201, applied.text
    code = applied.json()["code"]
    user_id, user = media_account()
    created = httpx.post(
        f"{api}/checkout/stripe",
        json={"packageCode": "creator_20", "affiliateCode": code},
        headers=auth(user),
    )
    session_id = created.json()["sessionId"]
    httpx.post(f"{stripe_url(stack)}/_local/checkout/{session_id}/complete").raise_for_status()
    _waitmedia_balance(api, user, 20_000_000)

    def totals() -> dict[str, int]:
        dashboard = httpx.get(f"{api}/affiliates/me/dashboard", headers=auth(referrer)).json()
        return dashboard["totals"]

    assert totals()["heldUsdMicros"] == 2_000_000  # held for the refund window
    intent = stripe_client().v1.checkout.sessions.retrieve(session_id).payment_intent
    stripe_client().v1.refunds.create(params={"payment_intent": intent, "amount": 500})
    _waitmedia_balance(api, user, 15_000_000)
    deadline = time.monotonic() + 10
    while totals()["heldUsdMicros"] != 1_500_000:
        assert time.monotonic() < deadline, totals()
        time.sleep(0.2)
    refund = stripe_event(
        stack,
        "charge.refunded",
        stripe_client().v1.payment_intents.retrieve(intent).latest_charge,
    )
    for _ in range(3):
        httpx.post(f"{stripe_url(stack)}/_local/events/{refund['id']}/resend")
    time.sleep(1)
    after = totals()
    assert after["heldUsdMicros"] == 1_500_000 and after["clawedBackUsdMicros"] == 500_000
    assert after["earnedUsdMicros"] == (
        after["availableUsdMicros"]
        + after["heldUsdMicros"]
        + after["requestedUsdMicros"]
        + after["paidUsdMicros"]
        + after["clawedBackUsdMicros"]
    )
    commissions = httpx.get(f"{api}/affiliates/me/commissions", headers=auth(referrer)).json()[
        "commissions"
    ]
    assert [c["clawedBackUsdMicros"] for c in commissions] == [500_000]
    assert_audited(user_id, referrer_id, ledger.earnings_account(referrer_id))
