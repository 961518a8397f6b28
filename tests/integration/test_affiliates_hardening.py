"""Affiliate hardening: a purchase binds only when it succeeds, self-referral through a
mailbox alias is refused, and commissions are held for the top-up's refund window."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from shared.engine import clock, identity
from shared.engine.store import db
from shared.media import affiliates, topups
from tests.helpers import auth, site_url


@pytest.fixture
def api(stack: Any) -> str:
    return f"{site_url(stack, 'media')}/api/v1"


def _account(email: str | None = None) -> tuple[str, str]:
    account = identity.create_account(email=email or f"h-{uuid.uuid4().hex[:12]}@example.com")
    return account.id, identity.create_api_key(account_id=account.id, site=identity.Site.MEDIA)


def _affiliate(api: str, email: str | None = None) -> tuple[str, str, str]:
    account_id, key = _account(email)
    body = {"displayName": "Kay", "contactEmail": "k@example.com", "payoutAddress": "pp:k"}
    r = httpx.post(f"{api}/affiliates/me/apply", json=body, headers=auth(key))
    assert r.status_code == 201, r.text
    return account_id, key, r.json()["code"]


def _bound(account_id: str) -> bool:
    return db().collection(affiliates.BINDINGS).document(account_id).get().exists


def test_a_purchase_binds_only_when_it_succeeds(api: str) -> None:
    _, _, code = _affiliate(api)
    referred_id, key = _account()
    unpaid = httpx.post(
        f"{api}/credits/purchase/x402",
        json={"usdCents": 500, "affiliateCode": code},
        headers=auth(key),
        timeout=60,
    )
    assert unpaid.status_code == 402, unpaid.text
    refused = httpx.post(
        f"{api}/checkout/stripe",
        json={"packageCode": "no_such_package", "affiliateCode": code},
        headers=auth(key),
        timeout=60,
    )
    assert refused.status_code in (400, 404), refused.text
    assert not _bound(referred_id)
    ok = httpx.post(
        f"{api}/checkout/stripe",
        json={"packageCode": "starter_5", "affiliateCode": code},
        headers=auth(key),
        timeout=60,
    )
    assert ok.status_code == 201, ok.text
    assert _bound(referred_id)


def test_mailbox_aliases_are_one_person() -> None:
    assert affiliates.mailbox("John.Doe+kt@GoogleMail.com") == "johndoe@gmail.com"
    assert affiliates.mailbox("j.o.h.n.doe@gmail.com") == "johndoe@gmail.com"
    assert affiliates.mailbox("jane+x@example.com") == "jane@example.com"
    assert affiliates.mailbox("j.ane@example.com") != affiliates.mailbox("jane@example.com")


def test_self_referral_through_a_mailbox_alias_is_refused(api: str) -> None:
    user = f"self.ref{uuid.uuid4().hex[:8]}"
    _, _, code = _affiliate(api, f"{user}@gmail.com")
    alias_id, key = _account(f"{user.replace('.', '')}+kt@googlemail.com")
    bind = httpx.post(f"{api}/affiliates/me/bind-code", json={"code": code}, headers=auth(key))
    assert bind.status_code == 400 and bind.json()["error"]["code"] == "self_referral"
    buy = httpx.post(
        f"{api}/checkout/stripe",
        json={"packageCode": "starter_5", "affiliateCode": code},
        headers=auth(key),
    )
    assert buy.status_code == 400 and buy.json()["error"]["code"] == "self_referral"
    assert not _bound(alias_id)
    stranger_id, stranger = _account(f"other{uuid.uuid4().hex[:8]}@gmail.com")
    ok = httpx.post(f"{api}/affiliates/me/bind-code", json={"code": code}, headers=auth(stranger))
    assert ok.status_code == 201 and _bound(stranger_id)


def test_commissions_are_payable_only_after_the_refund_window(api: str) -> None:
    aff_id, aff_key, code = _affiliate(api)
    referred_id, key = _account()
    bound = httpx.post(f"{api}/affiliates/me/bind-code", json={"code": code}, headers=auth(key))
    assert bound.status_code == 201
    assert topups.credit(
        provider=topups.Provider.STRIPE,
        external_id=f"cs_hold_{uuid.uuid4().hex}",
        account_id=referred_id,
        package_code="starter_5",
        cents=10_000,
    )  # $100 -> $10 commission: the payout minimum
    board = httpx.get(f"{api}/affiliates/me/dashboard", headers=auth(aff_key)).json()
    assert board["totals"]["availableUsdMicros"] == 0
    assert board["totals"]["heldUsdMicros"] == 10_000_000
    assert board["eligibility"]["reasons"] == ["below_minimum"]
    [held] = httpx.get(f"{api}/affiliates/me/commissions", headers=auth(aff_key)).json()[
        "commissions"
    ]
    assert held["status"] == "held"
    early = httpx.post(f"{api}/affiliates/me/payout-requests", json={}, headers=auth(aff_key))
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_eligible"

    # The refund window passes (the record's payable_at moves into the past).
    record = (
        db().collection(affiliates.AFFILIATES).document(aff_id).collection(affiliates.COMMISSIONS)
    )
    [snap] = list(record.stream())
    snap.reference.update({"payable_at": clock.now() - dt.timedelta(seconds=1)})
    board = httpx.get(f"{api}/affiliates/me/dashboard", headers=auth(aff_key)).json()
    assert board["totals"]["availableUsdMicros"] == 10_000_000
    assert board["totals"]["heldUsdMicros"] == 0
    [matured] = httpx.get(f"{api}/affiliates/me/commissions", headers=auth(aff_key)).json()[
        "commissions"
    ]
    assert matured["status"] == "available"
    paid = httpx.post(f"{api}/affiliates/me/payout-requests", json={}, headers=auth(aff_key))
    assert paid.status_code == 201 and paid.json()["amountUsdMicros"] == 10_000_000


def test_held_commissions_and_settling_grid_earnings_are_payable_by_no_path(api: str) -> None:
    """One earnings account holds commissions, creator and grid earnings: what one kind holds
    back (a commission in its refund window) no payout path may pay out."""
    from shared import earnings
    from shared.engine import ledger

    aff_id, aff_key, code = _affiliate(api)
    referred_id, key = _account()
    bound = httpx.post(f"{api}/affiliates/me/bind-code", json={"code": code}, headers=auth(key))
    assert bound.status_code == 201
    assert topups.credit(
        provider=topups.Provider.STRIPE,
        external_id=f"cs_mixed_{uuid.uuid4().hex}",
        account_id=referred_id,
        package_code="starter_5",
        cents=10_000,
    )  # a $10 commission, held
    creator_share = 3_000_000  # e.g. a Tarsify run's creator share, payable at once
    assert ledger.credit(
        account_id=ledger.earnings_account(aff_id),
        kind=ledger.EntryKind.EARNING,
        ref=f"creator-share-{uuid.uuid4().hex}",
        micros=creator_share,
    )
    assert ledger.balance(ledger.earnings_account(aff_id)).available_micros == 13_000_000
    assert earnings.payable_micros(aff_id) == creator_share
    board = httpx.get(f"{api}/affiliates/me/dashboard", headers=auth(aff_key)).json()
    assert board["totals"]["availableUsdMicros"] == creator_share
    assert board["totals"]["heldUsdMicros"] == 10_000_000
