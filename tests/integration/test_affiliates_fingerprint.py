"""Self-referral by payment fingerprint: an affiliate and an account they refer that paid
with the same card earn no commission, whichever paid first; another card earns it.

The card fingerprint comes from the local Stripe stand-in through the real `stripe` SDK
calls the settlement makes (the Checkout Session's PaymentIntent's latest Charge), as in
production; settlement is the real claim route.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.engine import ledger
from shared.engine.store import db
from shared.media import affiliates
from shared.providers.stripe import client as stripe_client
from tests.helpers import assert_audited, auth, media_account, media_api, stripe_url

CARD_A = "4242424242424242"
CARD_B = "5555555555554444"
CARD_C = "4000056655665556"
DEPOSIT_MICROS = 5_000_000  # starter_5
COMMISSION_MICROS = DEPOSIT_MICROS * affiliates.COMMISSION_RATE_BPS // 10_000


@pytest.fixture
def api(stack: Any) -> str:
    return media_api(stack)


def _affiliate(api: str) -> tuple[str, str, str]:
    account_id, key = media_account()
    body = {"displayName": "Kay", "contactEmail": "k@example.com", "payoutAddress": "pp:k"}
    r = httpx.post(f"{api}/affiliates/me/apply", json=body, headers=auth(key))
    assert r.status_code == 201, r.text
    return account_id, key, r.json()["code"]


def _bind(api: str, key: str, code: str) -> httpx.Response:
    return httpx.post(f"{api}/affiliates/me/bind-code", json={"code": code}, headers=auth(key))


def _pay(stack: Any, key: str, card: str) -> str:
    """Top up $5 through Stripe Checkout paying with `card`, then claim it."""
    api = media_api(stack)
    created = httpx.post(
        f"{api}/checkout/stripe", json={"packageCode": "starter_5"}, headers=auth(key), timeout=30
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["sessionId"]
    done = httpx.post(
        f"{stripe_url(stack)}/_local/checkout/{session_id}/complete", data={"card": card}
    )
    assert done.status_code == 200, done.text
    claimed = httpx.post(
        f"{api}/claim/stripe", json={"sessionId": session_id}, headers=auth(key), timeout=30
    )
    assert claimed.status_code == 200, claimed.text
    return session_id


def _card_fingerprint(session_id: str) -> str:
    session = stripe_client().v1.checkout.sessions.retrieve(
        session_id, params={"expand": ["payment_intent.latest_charge"]}
    )
    return str(session.payment_intent.latest_charge.payment_method_details.card.fingerprint)


def _commissions(api: str, key: str) -> dict[str, dict[str, Any]]:
    r = httpx.get(f"{api}/affiliates/me/commissions", headers=auth(key))
    assert r.status_code == 200, r.text
    return {c["id"]: c for c in r.json()["commissions"]}


def _binding(account_id: str) -> dict[str, Any]:
    return db().collection(affiliates.BINDINGS).document(account_id).get().to_dict()


def test_same_card_as_the_affiliate_earns_no_commission_another_card_does(
    stack: Any, api: str
) -> None:
    aff_id, aff_key, code = _affiliate(api)
    aff_session = _pay(stack, aff_key, CARD_A)

    same_id, same_key = media_account()
    other_id, other_key = media_account()
    assert _bind(api, same_key, code).status_code == 201
    assert _bind(api, other_key, code).status_code == 201
    same_session = _pay(stack, same_key, CARD_A)
    other_session = _pay(stack, other_key, CARD_B)

    # The fingerprints come from the stand-in through the SDK: card A twice, B once.
    fp_a = _card_fingerprint(aff_session)
    assert fp_a == _card_fingerprint(same_session) != _card_fingerprint(other_session)

    found = _commissions(api, aff_key)
    flagged = found[f"stripe:{same_session}"]
    assert flagged["status"] == "self_referral" and flagged["commissionUsdMicros"] == 0
    earned = found[f"stripe:{other_session}"]
    assert earned["status"] == "held" and earned["commissionUsdMicros"] == COMMISSION_MICROS
    board = httpx.get(f"{api}/affiliates/me/dashboard", headers=auth(aff_key)).json()
    assert board["commissionsCount"] == 1
    assert board["totals"]["earnedUsdMicros"] == COMMISSION_MICROS
    assert _binding(same_id)["self_referral"] is True
    assert not _binding(other_id).get("self_referral")
    # Exactly one commission entry on the affiliate's earnings, for card B.
    entries = ledger.entries(ledger.earnings_account(aff_id))
    commissions = [e for e in entries if e["kind"] == "commission"]
    assert [e["balance_delta_micros"] for e in commissions] == [COMMISSION_MICROS]
    assert commissions[0]["ref"] == f"stripe:{other_session}"

    # Stored keyed-hashed only: the payer document lists both accounts, no raw fingerprint.
    payer = (
        db().collection(affiliates.FINGERPRINTS).document(affiliates.fingerprint_id("stripe", fp_a))
    )
    assert set(payer.get().to_dict()["account_ids"]) == {aff_id, same_id}
    for snap in db().collection(affiliates.FINGERPRINTS).stream():
        assert fp_a not in str(snap.to_dict()) and fp_a not in snap.id
    assert_audited(aff_id, same_id, other_id)


def test_the_affiliate_paying_later_with_the_referred_card_takes_its_commissions_back(
    stack: Any, api: str
) -> None:
    aff_id, aff_key, code = _affiliate(api)
    referred_id, referred_key = media_account()
    assert _bind(api, referred_key, code).status_code == 201
    first = _pay(stack, referred_key, CARD_C)  # nothing known yet: earned, held
    assert _commissions(api, aff_key)[f"stripe:{first}"]["status"] == "held"
    _pay(stack, aff_key, CARD_C)  # now the affiliate paid with the same card
    second = _pay(stack, referred_key, CARD_B)  # any later top-up of that account: withheld

    found = _commissions(api, aff_key)
    assert found[f"stripe:{first}"]["status"] == "self_referral"
    assert found[f"stripe:{first}"]["clawedBackUsdMicros"] == COMMISSION_MICROS
    assert found[f"stripe:{second}"]["status"] == "self_referral"
    assert found[f"stripe:{second}"]["commissionUsdMicros"] == 0
    assert _binding(referred_id)["self_referral"] is True
    totals = httpx.get(f"{api}/affiliates/me/dashboard", headers=auth(aff_key)).json()["totals"]
    assert totals["earnedUsdMicros"] == totals["clawedBackUsdMicros"] == COMMISSION_MICROS
    assert totals["availableUsdMicros"] == totals["heldUsdMicros"] == 0
    assert ledger.balance(ledger.earnings_account(aff_id)).available_micros == 0
    entries = ledger.entries(ledger.earnings_account(aff_id))
    deltas = sorted(e["balance_delta_micros"] for e in entries if e["kind"] == "commission")
    assert deltas == [-COMMISSION_MICROS, COMMISSION_MICROS]  # taken back once
    # Settling the affiliate's payment again (a replayed claim) takes nothing more.
    assert (
        affiliates.withhold_found_later(account_id=aff_id, fingerprint_key=_payer_key(first)) == 0
    )
    assert ledger.balance(ledger.earnings_account(aff_id)).available_micros == 0
    assert_audited(aff_id, referred_id)


def _payer_key(session_id: str) -> str:
    return affiliates.fingerprint_id("stripe", _card_fingerprint(session_id))


def test_binding_to_an_affiliate_who_paid_with_your_card_is_refused(stack: Any, api: str) -> None:
    _, aff_key, code = _affiliate(api)
    _pay(stack, aff_key, CARD_B)
    buyer_id, buyer_key = media_account()
    _pay(stack, buyer_key, CARD_B)
    refused = _bind(api, buyer_key, code)
    assert refused.status_code == 400, refused.text
    assert not db().collection(affiliates.BINDINGS).document(buyer_id).get().exists
