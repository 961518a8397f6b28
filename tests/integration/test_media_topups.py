"""Killa Tamata top-ups: money enters exactly once, whichever way and however often it comes.

Each provider's stand-in runs in the stack (local Stripe, Coinbase Commerce, x402
facilitator) and speaks the provider's API and signatures, so these are the production
code paths. Every money test ends with the ledger audit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from shared import audit, ledger
from shared.stripe_gateway import client as stripe_client
from tests.helpers import media_account, media_api

STRIPE_SECRET = "whsec_local"
COINBASE_SECRET = "coinbase_whsec_local"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _stripe(stack) -> str:
    return f"http://127.0.0.1:{stack.ports['stripe']}"


def _coinbase(stack) -> str:
    return f"http://127.0.0.1:{stack.ports['coinbase']}"


def _balance(api: str, key: str) -> int:
    return int(httpx.get(f"{api}/balance", headers=_auth(key)).json()["balanceUsdMicros"])


def _wait_balance(api: str, key: str, micros: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while _balance(api, key) != micros:
        assert time.monotonic() < deadline, f"balance never became {micros}"
        time.sleep(0.2)


def _entries(account_id: str, kind: ledger.EntryKind) -> list[dict[str, Any]]:
    return [e for e in ledger.entries(account_id) if e["kind"] == kind]


def _audit_ok(*account_ids: str) -> None:
    for account_id in account_ids:
        result = audit.check(account_id)
        assert result["ok"], result


def _stripe_signed(payload: bytes) -> str:
    ts = int(time.time())
    mac = hmac.new(STRIPE_SECRET.encode(), f"{ts}.".encode() + payload, hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


def _stripe_event(stack, kind: str, object_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = httpx.get(
            f"{_stripe(stack)}/v1/events",
            params={"type": kind, "limit": 100},
            headers={"Authorization": "Bearer sk_test_local"},
        ).json()["data"]
        for event in events:
            if event["data"]["object"]["id"] == object_id:
                return event
        time.sleep(0.2)
    raise AssertionError(f"no {kind} event for {object_id}")


def _paid_stripe_checkout(stack, key: str, package: str = "creator_20") -> str:
    api = media_api(stack)
    created = httpx.post(
        f"{api}/checkout/stripe", json={"packageCode": package}, headers=_auth(key)
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["sessionId"]
    assert created.json()["checkoutUrl"].startswith(_stripe(stack))
    done = httpx.post(f"{_stripe(stack)}/_local/checkout/{session_id}/complete")
    assert done.status_code == 200, done.text
    return session_id


# --- Stripe ---------------------------------------------------------------------------


def test_stripe_event_ten_times_with_the_claim_credits_once(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    session_id = _paid_stripe_checkout(stack, key)
    event = _stripe_event(stack, "checkout.session.completed", session_id)
    payload = json.dumps(event).encode()
    webhook = f"{api}/webhooks/stripe"

    def deliver(_: int) -> int:
        headers = {"Stripe-Signature": _stripe_signed(payload), "Content-Type": "application/json"}
        return httpx.post(webhook, content=payload, headers=headers, timeout=30).status_code

    def claim(_: int) -> httpx.Response:
        return httpx.post(
            f"{api}/claim/stripe", json={"sessionId": session_id}, headers=_auth(key), timeout=30
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
    assert _balance(api, key) == 20_000_000
    assert len(_entries(account_id, ledger.EntryKind.TOPUP)) == 1
    # Stripe's own resends (to the function's URL) change nothing either.
    for _ in range(3):
        httpx.post(f"{_stripe(stack)}/_local/events/{event['id']}/resend")
    time.sleep(1)
    assert claim(0).json() == {**bodies[0], "currentBalanceUsdMicros": 20_000_000}
    assert _balance(api, key) == 20_000_000
    _audit_ok(account_id)


def test_unpaid_and_foreign_sessions_are_refused(stack) -> None:
    api = media_api(stack)
    owner_id, owner = media_account()
    thief_id, thief = media_account()
    created = httpx.post(
        f"{api}/checkout/stripe", json={"packageCode": "starter_5"}, headers=_auth(owner)
    )
    session_id = created.json()["sessionId"]
    unpaid = httpx.post(f"{api}/claim/stripe", json={"sessionId": session_id}, headers=_auth(owner))
    assert unpaid.status_code == 409 and unpaid.json()["error"]["code"] == "payment_pending"
    httpx.post(f"{_stripe(stack)}/_local/checkout/{session_id}/complete").raise_for_status()
    stolen = httpx.post(f"{api}/claim/stripe", json={"sessionId": session_id}, headers=_auth(thief))
    assert stolen.status_code == 403, stolen.text
    unknown = httpx.post(
        f"{api}/claim/stripe", json={"sessionId": "cs_test_nope"}, headers=_auth(thief)
    )
    assert unknown.status_code == 404
    assert _balance(api, thief) == 0
    _wait_balance(api, owner, 5_000_000)
    _audit_ok(owner_id, thief_id)


def test_stripe_webhook_with_a_bad_or_missing_signature_writes_nothing(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    created = httpx.post(
        f"{api}/checkout/stripe", json={"packageCode": "starter_5"}, headers=_auth(key)
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
    assert _balance(api, key) == 0 and ledger.entries(account_id) == []


def test_refunds_and_disputes_debit_and_never_go_negative(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    session_id = _paid_stripe_checkout(stack, key, "creator_20")
    _wait_balance(api, key, 20_000_000)
    session = stripe_client().v1.checkout.sessions.retrieve(session_id)
    intent = session.payment_intent
    stripe_client().v1.refunds.create(params={"payment_intent": intent, "amount": 500})
    _wait_balance(api, key, 15_000_000)
    # A second partial refund is its own debit; replays of either change nothing.
    stripe_client().v1.refunds.create(params={"payment_intent": intent, "amount": 300})
    _wait_balance(api, key, 12_000_000)
    refund = _stripe_event(
        stack, "charge.refunded", stripe_client().v1.payment_intents.retrieve(intent).latest_charge
    )
    for _ in range(3):
        httpx.post(f"{_stripe(stack)}/_local/events/{refund['id']}/resend")
    time.sleep(1)
    assert _balance(api, key) == 12_000_000
    assert len(_entries(account_id, ledger.EntryKind.REFUND)) == 2

    # Spend most of it, then lose a dispute for the whole payment: take what is left.
    second = _paid_stripe_checkout(stack, key, "starter_5")
    _wait_balance(api, key, 17_000_000)
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
    disputed = httpx.post(f"{_stripe(stack)}/_local/charges/{charge}/dispute")
    assert disputed.status_code == 200, disputed.text
    _wait_balance(api, key, 0)
    from shared.store import db

    record = db().collection("topups").document(f"stripe:{second}").get().to_dict()
    assert record["recovered_micros"] == 1_000_000
    assert record["unrecovered_micros"] == 4_000_000
    assert record["chargeback_micros"] == 5_000_000
    first = db().collection("topups").document(f"stripe:{session_id}").get().to_dict()
    assert first["refund_micros"] == 8_000_000 and first["unrecovered_micros"] == 0
    assert len(_entries(account_id, ledger.EntryKind.CHARGEBACK)) == 1
    _audit_ok(account_id)


# --- Coinbase Commerce ------------------------------------------------------------------


def _charge(stack, key: str, package: str = "creator_20") -> dict[str, Any]:
    created = httpx.post(
        f"{media_api(stack)}/checkout/crypto", json={"packageCode": package}, headers=_auth(key)
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
        f"{api}/claim/crypto", json={"chargeId": charge["chargeId"]}, headers=_auth(key)
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
            headers=_auth(key),
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
    assert _balance(api, key) == 20_000_000
    assert len(_entries(account_id, ledger.EntryKind.TOPUP)) == 1
    _audit_ok(account_id)


def test_coinbase_underpaid_overpaid_and_delayed_credit_what_arrived(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    under = _charge(stack, key, "creator_20")
    _pay(stack, under["chargeId"], "12.50")
    _wait_balance(api, key, 12_500_000)
    # The rest arrives later: it is its own payment, credited once.
    _pay(stack, under["chargeId"], "7.50")
    _wait_balance(api, key, 20_000_000)
    over = _charge(stack, key, "starter_5")
    _pay(stack, over["chargeId"], "6.00")
    _wait_balance(api, key, 26_000_000)
    late = _charge(stack, key, "starter_5")
    httpx.post(f"{_coinbase(stack)}/_local/charges/{late['chargeId']}/expire").raise_for_status()
    _pay(stack, late["chargeId"], "5.00")
    _wait_balance(api, key, 31_000_000)
    claimed = httpx.post(
        f"{api}/claim/crypto", json={"chargeId": under["chargeId"]}, headers=_auth(key)
    ).json()
    assert claimed["depositUsdCents"] == 2_000
    assert len(_entries(account_id, ledger.EntryKind.TOPUP)) == 4
    _audit_ok(account_id)


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
        f"{api}/claim/crypto", json={"chargeId": charge["chargeId"]}, headers=_auth(thief)
    )
    assert stolen.status_code == 403
    _wait_balance(api, owner, 5_000_000)
    assert _balance(api, thief) == 0
    _audit_ok(owner_id, thief_id)


# --- x402 -----------------------------------------------------------------------------


def _required(api: str, key: str, cents: int, path: str = "/credits/purchase/x402") -> str:
    response = httpx.post(f"{api}{path}", json={"usdCents": cents}, headers=_auth(key))
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "payment_required"
    return response.headers["PAYMENT-REQUIRED"]


def _fresh_wallet() -> str:
    import secrets

    return "0x" + secrets.token_hex(32)


def test_x402_purchase_settles_once_under_concurrent_replays(stack) -> None:
    import base64

    from infra.local.x402_wallet import pay_header

    api = media_api(stack)
    account_id, key = media_account()
    required = _required(api, key, 750)
    accepts = json.loads(base64.b64decode(required))["accepts"][0]
    assert accepts["amount"] == str(750 * 10_000) and accepts["scheme"] == "exact"
    payment = pay_header(required, private_key=_fresh_wallet())

    def buy(_: int) -> httpx.Response:
        return httpx.post(
            f"{api}/credits/purchase/x402",
            json={"usdCents": 750},
            headers={**_auth(key), "PAYMENT-SIGNATURE": payment},
            timeout=60,
        )

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(buy, range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 9 + [201], [r.text for r in responses]
    receipts = {r.headers["PAYMENT-RESPONSE"] for r in responses}
    assert len(receipts) == 1
    receipt = json.loads(base64.b64decode(receipts.pop()))
    assert receipt["success"] is True and receipt["transaction"]
    first = next(r for r in responses if r.status_code == 201).json()
    assert first["depositUsdCents"] == 750 and first["creditedUsdMicros"] == 7_500_000
    assert _balance(api, key) == 7_500_000
    # A later replay is still recognised, and nobody else can spend the same payment.
    assert buy(0).status_code == 200
    _, other = media_account()
    stolen = httpx.post(
        f"{api}/credits/purchase/x402",
        json={"usdCents": 750},
        headers={**_auth(other), "PAYMENT-SIGNATURE": payment},
    )
    assert stolen.status_code == 409 and _balance(api, other) == 0
    assert len(_entries(account_id, ledger.EntryKind.TOPUP)) == 1
    _audit_ok(account_id)


def test_x402_legacy_route_and_an_underpaying_signature(stack) -> None:
    from infra.local.x402_wallet import pay_header

    api = media_api(stack)
    account_id, key = media_account()
    cheap = pay_header(_required(api, key, 100, "/deposit/x402"), private_key=_fresh_wallet())
    short = httpx.post(
        f"{api}/deposit/x402",
        json={"usdCents": 500},
        headers={**_auth(key), "PAYMENT-SIGNATURE": cheap},
    )
    assert short.status_code == 402 and "PAYMENT-REQUIRED" in short.headers
    assert _balance(api, key) == 0
    wallet = _fresh_wallet()
    payment = pay_header(_required(api, key, 500, "/deposit/x402"), private_key=wallet)
    paid = httpx.post(
        f"{api}/deposit/x402",
        json={"usdCents": 500},
        headers={**_auth(key), "PAYMENT-SIGNATURE": payment},
    )
    assert paid.status_code == 201, paid.text
    assert "PAYMENT-RESPONSE" in paid.headers
    assert _balance(api, key) == 5_000_000
    garbage = httpx.post(
        f"{api}/credits/purchase/x402",
        json={"usdCents": 500},
        headers={**_auth(key), "PAYMENT-SIGNATURE": "not-base64-json"},
    )
    assert garbage.status_code == 400
    _audit_ok(account_id)


def test_x402_facilitator_lost_mid_way_never_double_credits(stack, monkeypatch) -> None:
    """In process, against the stack's Firestore and facilitator: an outage leaves the
    claim `unknown`; the same header then settles once, or, if the transfer had gone
    through, stays for reconciliation without a credit."""
    import pytest

    from infra.local.x402_wallet import pay_header
    from shared import settings, x402_gateway
    from shared.errors import AppError, ErrorKind
    from shared.media import x402_purchase
    from shared.store import db

    account_id, _ = media_account()
    url = f"{media_api(stack)}/credits/purchase/x402"
    required = x402_gateway.payment_required_header(
        usd_cents=400, resource_url=url, description=x402_purchase._description(400)
    )
    header = pay_header(required, private_key=_fresh_wallet())
    live = os.environ["RELAY_X402_FACILITATOR_URL"]

    def buy() -> x402_purchase.Outcome:
        settings.get_settings.cache_clear()
        return x402_purchase.purchase(
            account_id=account_id,
            usd_cents=400,
            headers={"PAYMENT-SIGNATURE": header},
            resource_url=url,
        )

    monkeypatch.setenv("RELAY_X402_FACILITATOR_URL", "http://127.0.0.1:9")  # nothing listens
    with pytest.raises(AppError) as lost:
        buy()
    assert lost.value.kind is ErrorKind.UNAVAILABLE
    record = db().collection("topups").document(f"x402:{x402_gateway.payment_id(header)}")
    assert record.get().get("status") == "unknown"
    monkeypatch.setenv("RELAY_X402_FACILITATOR_URL", live)
    outcome = buy()
    assert outcome.first and outcome.response_header
    assert ledger.balance(account_id).balance_micros == 4_000_000

    # The other case: the transfer went through but the answer was lost.
    header = pay_header(required, private_key=_fresh_wallet())
    x402_gateway.verify_and_settle(
        header_value=header, usd_cents=400, resource_url=url, description="settled elsewhere"
    )
    db().collection("topups").document(f"x402:{x402_gateway.payment_id(header)}").create(
        {"account_id": account_id, "status": "unknown", "external_id": "x", "credited_cents": 0}
    )
    with pytest.raises(AppError) as held:
        buy()
    assert held.value.details["code"] == "settlement_unknown"
    assert ledger.balance(account_id).balance_micros == 4_000_000

    # Settled and recorded `paid`, but the credit never landed: the replay finishes it.
    header = pay_header(required, private_key=_fresh_wallet())
    settled = x402_gateway.verify_and_settle(
        header_value=header, usd_cents=400, resource_url=url, description="settled"
    )
    payment_id = x402_gateway.payment_id(header)
    db().collection("topups").document(f"x402:{payment_id}").create(
        {
            "account_id": account_id,
            "status": "paid",
            "external_id": payment_id,
            "price_cents": 400,
            "credited_cents": 0,
            "payer": settled.payer,
            "network": settled.network,
            "transaction": settled.transaction,
            "response_header": settled.response_header,
        }
    )
    finished = buy()
    assert not finished.first and finished.response_header == settled.response_header
    assert ledger.balance(account_id).balance_micros == 8_000_000
    assert buy().body["depositUsdCents"] == 400  # and again: a plain replay now
    assert ledger.balance(account_id).balance_micros == 8_000_000
    settings.get_settings.cache_clear()
    _audit_ok(account_id)


def test_a_refund_takes_back_the_same_share_of_the_referrers_commission(stack) -> None:
    api = media_api(stack)
    referrer_id, referrer = media_account()
    applied = httpx.post(
        f"{api}/affiliates/me/apply",
        json={"displayName": "Ref", "contactEmail": "ref@example.com"},
        headers=_auth(referrer),
    )
    assert applied.status_code == 201, applied.text
    code = applied.json()["code"]
    user_id, user = media_account()
    created = httpx.post(
        f"{api}/checkout/stripe",
        json={"packageCode": "creator_20", "affiliateCode": code},
        headers=_auth(user),
    )
    session_id = created.json()["sessionId"]
    httpx.post(f"{_stripe(stack)}/_local/checkout/{session_id}/complete").raise_for_status()
    _wait_balance(api, user, 20_000_000)

    def totals() -> dict[str, int]:
        dashboard = httpx.get(f"{api}/affiliates/me/dashboard", headers=_auth(referrer)).json()
        return dashboard["totals"]

    assert totals()["availableUsdMicros"] == 2_000_000
    intent = stripe_client().v1.checkout.sessions.retrieve(session_id).payment_intent
    stripe_client().v1.refunds.create(params={"payment_intent": intent, "amount": 500})
    _wait_balance(api, user, 15_000_000)
    deadline = time.monotonic() + 10
    while totals()["availableUsdMicros"] != 1_500_000:
        assert time.monotonic() < deadline, totals()
        time.sleep(0.2)
    refund = _stripe_event(
        stack,
        "charge.refunded",
        stripe_client().v1.payment_intents.retrieve(intent).latest_charge,
    )
    for _ in range(3):
        httpx.post(f"{_stripe(stack)}/_local/events/{refund['id']}/resend")
    time.sleep(1)
    after = totals()
    assert after["availableUsdMicros"] == 1_500_000 and after["clawedBackUsdMicros"] == 500_000
    assert after["earnedUsdMicros"] == (
        after["availableUsdMicros"]
        + after["requestedUsdMicros"]
        + after["paidUsdMicros"]
        + after["clawedBackUsdMicros"]
    )
    commissions = httpx.get(f"{api}/affiliates/me/commissions", headers=_auth(referrer)).json()[
        "commissions"
    ]
    assert [c["clawedBackUsdMicros"] for c in commissions] == [500_000]
    _audit_ok(user_id, referrer_id, f"affiliate:{referrer_id}")
