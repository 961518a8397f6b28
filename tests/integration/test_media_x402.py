"""Killa Tamata x402 purchases against the local facilitator, paid by the local wallet:
402 until paid, one settlement and one credit however often a payment header is replayed,
and never a second credit when the facilitator is lost mid-way."""

from __future__ import annotations

import base64
import json
import os
import secrets
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from infra.local.x402_wallet import pay_header
from shared.engine import ledger, settings
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.media import x402_purchase
from shared.providers import x402 as x402_gateway
from tests.helpers import (
    assert_audited,
    auth,
    ledger_entries,
    media_account,
    media_api,
    media_balance,
)


def _required(api: str, key: str, cents: int, path: str = "/credits/purchase/x402") -> str:
    response = httpx.post(f"{api}{path}", json={"usdCents": cents}, headers=auth(key))
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "payment_required"
    return response.headers["PAYMENT-REQUIRED"]


def _fresh_wallet() -> str:
    return "0x" + secrets.token_hex(32)


def test_x402_purchase_settles_once_under_concurrent_replays(stack) -> None:
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
            headers={**auth(key), "PAYMENT-SIGNATURE": payment},
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
    assert media_balance(api, key) == 7_500_000
    # A later replay is still recognised, and nobody else can spend the same payment.
    assert buy(0).status_code == 200
    _, other = media_account()
    stolen = httpx.post(
        f"{api}/credits/purchase/x402",
        json={"usdCents": 750},
        headers={**auth(other), "PAYMENT-SIGNATURE": payment},
    )
    assert stolen.status_code == 409 and media_balance(api, other) == 0
    assert len(ledger_entries(account_id, ledger.EntryKind.TOPUP)) == 1
    assert_audited(account_id)


def test_x402_legacy_route_and_an_underpaying_signature(stack) -> None:
    api = media_api(stack)
    account_id, key = media_account()
    cheap = pay_header(_required(api, key, 100, "/deposit/x402"), private_key=_fresh_wallet())
    short = httpx.post(
        f"{api}/deposit/x402",
        json={"usdCents": 500},
        headers={**auth(key), "PAYMENT-SIGNATURE": cheap},
    )
    assert short.status_code == 402 and "PAYMENT-REQUIRED" in short.headers
    assert media_balance(api, key) == 0
    wallet = _fresh_wallet()
    payment = pay_header(_required(api, key, 500, "/deposit/x402"), private_key=wallet)
    paid = httpx.post(
        f"{api}/deposit/x402",
        json={"usdCents": 500},
        headers={**auth(key), "PAYMENT-SIGNATURE": payment},
    )
    assert paid.status_code == 201, paid.text
    assert "PAYMENT-RESPONSE" in paid.headers
    assert media_balance(api, key) == 5_000_000
    garbage = httpx.post(
        f"{api}/credits/purchase/x402",
        json={"usdCents": 500},
        headers={**auth(key), "PAYMENT-SIGNATURE": "not-base64-json"},
    )
    assert garbage.status_code == 400
    assert_audited(account_id)


def test_x402_facilitator_lost_mid_way_never_double_credits(stack, monkeypatch) -> None:
    """In process, against the stack's Firestore and facilitator: an outage leaves the
    claim `unknown`; the same header then settles once, or, if the transfer had gone
    through, stays for reconciliation without a credit."""
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
    assert_audited(account_id)
