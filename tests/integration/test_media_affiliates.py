"""Killa Tamata's affiliate programme over HTTP, against the running stack: codes,
attribution, binding, commissions settled exactly once inside the top-up's batch, and
payout requests that never let money leave twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.engine import audit, clock, identity, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.media import affiliates, sessions, topups
from tests.helpers import auth, site_url

RELAY = Path(sys.executable).parent / "relay"
ROOT = Path(__file__).resolve().parents[2]  # this checkout's code, not the venv's install
API = "/api/v1/affiliates"


@pytest.fixture
def base(stack: Any) -> str:
    return site_url(stack, "media") + API


def _jar(response: httpx.Response) -> sessions.Jar:
    return sessions.decode_jar(response.cookies.get(sessions.COOKIE))


def _aff_cookie(token: str) -> str:
    return sessions.encode_jar(sessions.Jar(attribution=token))


def _account() -> tuple[str, str]:
    account = identity.create_account(email=f"aff-{uuid.uuid4().hex[:12]}@example.com")
    return account.id, identity.create_api_key(account_id=account.id, site=identity.Site.MEDIA)


def _affiliate(
    base: str, *, payout_address: str | None = "paypal:me@example.com"
) -> tuple[str, str, str]:
    """A new affiliate: (account id, key, code)."""
    account_id, key = _account()
    body: dict[str, Any] = {"displayName": "Kay Tee", "contactEmail": "kay@example.com"}
    if payout_address:
        body["payoutAddress"] = payout_address
    r = httpx.post(f"{base}/me/apply", json=body, headers=auth(key))
    assert r.status_code == 201, r.text
    return account_id, key, r.json()["code"]


def _referred(base: str, code: str) -> tuple[str, str]:
    account_id, key = _account()
    r = httpx.post(f"{base}/me/bind-code", json={"code": code}, headers=auth(key))
    assert r.status_code == 201, r.text
    return account_id, key


def _topup(account_id: str, *, cents: int = 500, external_id: str | None = None) -> bool:
    return topups.credit(
        provider=topups.Provider.STRIPE,
        external_id=external_id or f"cs_aff_{uuid.uuid4().hex}",
        account_id=account_id,
        package_code="starter_5",
        cents=cents,
    )


def _mature(affiliate_id: str) -> None:
    """Let the refund window of every commission of the affiliate pass."""
    past = clock.now() - dt.timedelta(seconds=1)
    commissions = (
        db()
        .collection(affiliates.AFFILIATES)
        .document(affiliate_id)
        .collection(affiliates.COMMISSIONS)
    )
    for snap in commissions.stream():
        snap.reference.update({"payable_at": past})


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    return error


def _relay(stack: Any, *args: str, ok: bool = True) -> dict[str, Any]:
    result = subprocess.run(
        [str(RELAY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **stack.env, "PYTHONPATH": str(ROOT)},
    )
    assert (result.returncode == 0) is ok, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _audited(*account_ids: str) -> None:
    for account_id in account_ids:
        result = audit.check(account_id)
        assert result["ok"], result["problems"]


def test_full_flow_from_apply_to_paid_payout(stack: Any, base: str) -> None:
    aff_id, aff_key, code = _affiliate(base)
    assert len(code) == 8 and set(code) <= set(affiliates.CODE_ALPHABET)
    me = httpx.get(f"{base}/me", headers=auth(aff_key)).json()
    assert me["status"] == "active" and me["code"] == code and me["accountId"] == aff_id
    mine = httpx.get(f"{base}/me/code", headers=auth(aff_key)).json()
    media = site_url(stack, "media")
    assert mine["referralUrl"] == f"{media}{API}/r?code={code}"

    captured = httpx.post(f"{base}/capture", json={"code": code.lower()})
    assert captured.status_code == 200 and captured.json()["code"] == code
    token = captured.json()["captureToken"]
    assert len(token) >= 24 and _jar(captured).attribution == token

    referred_id, referred_key = _account()
    bind = {"code": code.lower(), "captureToken": token}
    first = httpx.post(f"{base}/me/bind-code", json=bind, headers=auth(referred_key))
    assert first.status_code == 201 and first.json()["created"] is True
    again = httpx.post(f"{base}/me/bind-code", json=bind, headers=auth(referred_key))
    assert again.status_code == 200 and again.json()["created"] is False

    assert _topup(referred_id, cents=500)
    board = httpx.get(f"{base}/me/dashboard", headers=auth(aff_key)).json()
    assert board["referredAccounts"] == 1 and board["commissionsCount"] == 1
    assert board["totals"] == {
        "earnedUsdMicros": 500_000,
        "availableUsdMicros": 0,  # held for the top-up's refund window
        "heldUsdMicros": 500_000,
        "requestedUsdMicros": 0,
        "paidUsdMicros": 0,
        "clawedBackUsdMicros": 0,
    }
    assert board["commissionRateBps"] == 1000 and board["payoutMinimumUsdMicros"] == 10_000_000
    assert board["eligibility"] == {"eligible": False, "reasons": ["below_minimum"]}
    # The referred account keeps its whole top-up; the commission is the platform's cost.
    assert ledger.balance(referred_id).balance_micros == 5_000_000

    assert _topup(referred_id, cents=10_000)  # $100 -> $10 commission, $10.50 in all
    listed = httpx.get(f"{base}/me/commissions", headers=auth(aff_key)).json()["commissions"]
    assert [c["commissionUsdMicros"] for c in listed] == [10_000_000, 500_000]
    assert listed[0]["status"] == "held" and listed[0]["rateBps"] == 1000
    _mature(aff_id)
    listed = httpx.get(f"{base}/me/commissions", headers=auth(aff_key)).json()["commissions"]
    assert [c["status"] for c in listed] == ["available", "available"]

    created = httpx.post(
        f"{base}/me/payout-requests", json={"note": "thanks"}, headers=auth(aff_key)
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["amountUsdMicros"] == 10_500_000 and request["status"] == "requested"
    assert request["payoutAddress"] == "paypal:me@example.com" and request["note"] == "thanks"
    board = httpx.get(f"{base}/me/dashboard", headers=auth(aff_key)).json()
    assert board["totals"]["availableUsdMicros"] == 0
    assert board["totals"]["requestedUsdMicros"] == 10_500_000
    assert "payout_request_open" in board["eligibility"]["reasons"]

    paid = _relay(stack, "affiliates", "pay", request["id"], "--reference", "PP-123")
    assert paid == {
        "id": request["id"],
        "status": "paid",
        "amount_micros": 10_500_000,
        "reference": "PP-123",
    }
    assert (
        _relay(stack, "affiliates", "pay", request["id"], "--reference", "x", ok=False)["ok"]
        is False
    )
    payouts = httpx.get(f"{base}/me/payouts", headers=auth(aff_key)).json()["payouts"]
    assert [(p["id"], p["status"], p["reference"]) for p in payouts] == [
        (request["id"], "paid", "PP-123")
    ]
    requests = httpx.get(f"{base}/me/payout-requests", headers=auth(aff_key)).json()
    assert [r["status"] for r in requests["payoutRequests"]] == ["paid"]
    assert requests["eligibility"]["reasons"] == ["below_minimum"]
    totals = httpx.get(f"{base}/me/dashboard", headers=auth(aff_key)).json()["totals"]
    assert totals == {
        "earnedUsdMicros": 10_500_000,
        "availableUsdMicros": 0,
        "heldUsdMicros": 0,
        "requestedUsdMicros": 0,
        "paidUsdMicros": 10_500_000,
        "clawedBackUsdMicros": 0,
    }
    _audited(aff_id, referred_id, ledger.earnings_account(aff_id))


def test_commission_settles_once_under_retries_and_concurrency(base: str) -> None:
    aff_id, _, code = _affiliate(base)
    referred_id, _ = _referred(base, code)
    external = f"cs_retry_{uuid.uuid4().hex}"
    assert _topup(referred_id, external_id=external) is True
    assert _topup(referred_id, external_id=external) is False

    external = f"cs_race_{uuid.uuid4().hex}"
    barrier = threading.Barrier(10)

    def settle(_: int) -> bool:
        barrier.wait()
        return _topup(referred_id, external_id=external)

    with ThreadPoolExecutor(10) as pool:
        assert sorted(pool.map(settle, range(10))) == [False] * 9 + [True]

    entries = ledger.entries(ledger.earnings_account(aff_id))
    assert sorted(e["kind"] for e in entries) == ["commission", "commission"]
    assert ledger.balance(ledger.earnings_account(aff_id)).balance_micros == 1_000_000
    profile = affiliates.get_profile(aff_id)
    assert profile.commission_count == 2 and profile.earned_micros == 1_000_000
    assert len(affiliates.list_commissions(account_id=aff_id, limit=100)) == 2
    assert ledger.balance(referred_id).balance_micros == 10_000_000
    _audited(aff_id, referred_id, ledger.earnings_account(aff_id))


def test_no_commission_without_binding_or_after_the_window(base: str) -> None:
    aff_id, _, code = _affiliate(base)
    stranger, _ = _account()
    assert _topup(stranger)
    referred_id, _ = _referred(base, code)
    clock.advance(affiliates.COMMISSION_WINDOW + dt.timedelta(days=1))
    try:
        assert _topup(referred_id)
    finally:
        clock.reset()
    assert ledger.entries(ledger.earnings_account(aff_id)) == []
    _audited(stranger, referred_id, ledger.earnings_account(aff_id))


def test_validate_code_is_case_insensitive_and_unknown_is_not_an_error(base: str) -> None:
    _, _, code = _affiliate(base)
    r = httpx.post(f"{base}/validate-code", json={"code": code.lower()})
    assert r.status_code == 200 and r.json() == {"valid": True, "code": code}
    r = httpx.post(f"{base}/validate-code", json={"code": "NOPE2345"})
    assert r.status_code == 200 and r.json() == {"valid": False, "code": "NOPE2345"}
    r = httpx.post(f"{base}/validate-code", json={"code": "a/b.c"})
    assert r.status_code == 200 and r.json()["valid"] is False


def test_referral_redirect_sets_the_attribution_cookie(base: str, stack: Any) -> None:
    _, _, code = _affiliate(base)
    r = httpx.get(f"{base}/r", params={"code": code.lower()})
    assert r.status_code == 302
    assert r.headers["location"] == f"{site_url(stack, 'media')}/?ref={code}"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the local stack is plain HTTP
    token = _jar(r).attribution
    assert token is not None
    assert affiliates.token_code(token) == code

    # The cookie alone attributes a bind-code without an explicit token.
    _, key = _account()
    bound = httpx.post(
        f"{base}/me/bind-code",
        json={"code": code},
        headers={**auth(key), "Cookie": f"__session={_aff_cookie(token)}"},
    )
    assert bound.status_code == 201 and bound.json()["code"] == code

    _error(httpx.get(f"{base}/r", params={"code": "ZZZZ9999"}), 404, "unknown_affiliate_code")
    _error(httpx.post(f"{base}/capture", json={"code": "ZZZZ9999"}), 404, "unknown_affiliate_code")
    _error(httpx.get(f"{base}/r"), 400, "invalid_request")
    _error(httpx.get(f"{base}/r", params={"code": "abc"}), 400, "invalid_request")


def test_binding_rules(base: str) -> None:
    a_id, a_key, a_code = _affiliate(base)
    _, _, b_code = _affiliate(base)
    referred_id, key = _account()

    bad = {"code": a_code, "captureToken": "x" * 30}
    _error(
        httpx.post(f"{base}/me/bind-code", json=bad, headers=auth(key)),
        400,
        "invalid_capture_token",
    )
    other = httpx.post(f"{base}/capture", json={"code": b_code}).json()["captureToken"]
    wrong = {"code": a_code, "captureToken": other}
    _error(
        httpx.post(f"{base}/me/bind-code", json=wrong, headers=auth(key)),
        400,
        "invalid_capture_token",
    )
    stale_cookie = {**auth(key), "Cookie": f"__session={_aff_cookie(other)}"}
    _error(
        httpx.post(f"{base}/me/bind-code", json={"code": a_code}, headers=stale_cookie),
        400,
        "invalid_capture_token",
    )
    _error(
        httpx.post(f"{base}/me/bind-code", json={"code": "NOPE2345"}, headers=auth(key)),
        400,
        "invalid_affiliate_code",
    )
    _error(
        httpx.post(f"{base}/me/bind-code", json={"code": a_code}, headers=auth(a_key)),
        400,
        "self_referral",
    )
    ok = httpx.post(f"{base}/me/bind-code", json={"code": a_code}, headers=auth(key))
    assert ok.status_code == 201
    _error(
        httpx.post(f"{base}/me/bind-code", json={"code": b_code}, headers=auth(key)),
        409,
        "already_bound",
    )

    # Purchases carrying affiliateCode bind after they succeed: first binding wins, silently.
    def bind_for_purchase(account_id: str, code: str) -> None:
        referrer = affiliates.purchase_referrer(account_id=account_id, code=code)
        affiliates.bind_for_purchase(account_id=account_id, affiliate=referrer)

    bind_for_purchase(referred_id, b_code)
    assert affiliates.get_profile(a_id).referred_count == 1
    buyer, _ = _account()
    bind_for_purchase(buyer, b_code.lower())
    bind_for_purchase(buyer, a_code)
    assert _topup(buyer)
    assert ledger.balance(ledger.earnings_account(a_id)).balance_micros == 0
    with pytest.raises(AppError) as unknown:
        bind_for_purchase(buyer, "NOPE2345")
    assert unknown.value.details["code"] == "invalid_affiliate_code"
    with pytest.raises(AppError) as self_referral:
        bind_for_purchase(a_id, a_code)
    assert self_referral.value.kind is ErrorKind.INVALID


def test_profile_apply_twice_read_and_update(base: str) -> None:
    _, key = _account()
    _error(httpx.get(f"{base}/me", headers=auth(key)), 404, "not_an_affiliate")
    _error(httpx.get(f"{base}/me/dashboard", headers=auth(key)), 404, "not_an_affiliate")
    _error(
        httpx.patch(f"{base}/me", json={"displayName": "Kay"}, headers=auth(key)),
        404,
        "not_an_affiliate",
    )
    body = {"displayName": "Kay", "contactEmail": "k@example.com", "countryCode": "de"}
    first = httpx.post(f"{base}/me/apply", json=body, headers=auth(key))
    assert first.status_code == 201 and first.json()["countryCode"] == "DE"
    assert first.json()["payoutAddress"] is None
    _error(httpx.post(f"{base}/me/apply", json=body, headers=auth(key)), 409, "already_affiliate")
    patched = httpx.patch(
        f"{base}/me", json={"payoutAddress": "iban:DE00", "displayName": "Kay T"}, headers=auth(key)
    )
    assert patched.status_code == 200
    me = httpx.get(f"{base}/me", headers=auth(key)).json()
    assert (me["payoutAddress"], me["displayName"], me["contactEmail"]) == (
        "iban:DE00",
        "Kay T",
        "k@example.com",
    )


def test_payout_request_not_eligible_lists_reasons(base: str) -> None:
    _, key, _ = _affiliate(base, payout_address=None)
    error = _error(httpx.post(f"{base}/me/payout-requests", headers=auth(key)), 409, "not_eligible")
    assert error["details"]["reasons"] == ["payout_address_missing", "below_minimum"]
    assert "payout_address_missing" in error["message"]
    listed = httpx.get(f"{base}/me/payout-requests", headers=auth(key)).json()
    assert listed["payoutRequests"] == [] and listed["eligibility"]["eligible"] is False


def test_two_concurrent_payout_requests_one_wins(base: str) -> None:
    aff_id, key, code = _affiliate(base)
    referred_id, _ = _referred(base, code)
    assert _topup(referred_id, cents=10_000)  # exactly the $10 minimum
    _mature(aff_id)
    barrier = threading.Barrier(2)

    def post(_: int) -> httpx.Response:
        barrier.wait()
        return httpx.post(f"{base}/me/payout-requests", json={}, headers=auth(key), timeout=60)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(post, range(2)))
    assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["error"]["code"] == "not_eligible"
    entries = ledger.entries(ledger.earnings_account(aff_id))
    assert sorted(e["kind"] for e in entries) == ["commission", "payout"]
    listed = httpx.get(f"{base}/me/payout-requests", headers=auth(key)).json()["payoutRequests"]
    assert len(listed) == 1 and listed[0]["amountUsdMicros"] == 10_000_000
    _audited(aff_id, referred_id, ledger.earnings_account(aff_id))


def test_bad_input_on_every_operation_is_a_400_envelope(base: str) -> None:
    _, key, code = _affiliate(base)
    h = auth(key)
    long = "x" * 33
    cases = [
        ("GET", "/r", {"params": {"code": long}}),
        ("POST", "/validate-code", {"json": {"code": "abc"}}),
        ("POST", "/validate-code", {"json": {"code": code, "extra": 1}}),
        ("POST", "/validate-code", {"content": b"{not json"}),
        ("POST", "/capture", {"json": {}}),
        ("POST", "/capture", {"json": {"code": 12345}}),
        ("POST", "/me/apply", {"json": {"displayName": "K", "contactEmail": "k@example.com"}}),
        ("POST", "/me/apply", {"json": {"displayName": "Kay", "contactEmail": "not-an-email"}}),
        ("POST", "/me/apply", {"json": {"displayName": "Kay", "contactEmail": "k@e.com", "x": 1}}),
        ("PATCH", "/me", {"json": {"countryCode": "DEU"}}),
        ("PATCH", "/me", {"json": {"status": "active"}}),
        ("PATCH", "/me", {"content": b"[]"}),
        ("GET", "/me/commissions", {"params": {"limit": "0"}}),
        ("GET", "/me/commissions", {"params": {"limit": "ten"}}),
        ("GET", "/me/payouts", {"params": {"limit": "-1"}}),
        ("GET", "/me/payout-requests", {"params": {"limit": "1.5"}}),
        ("POST", "/me/payout-requests", {"json": {"note": ""}}),
        ("POST", "/me/payout-requests", {"json": {"amount": 5}}),
        ("POST", "/me/bind-code", {"json": {"code": code, "captureToken": "short"}}),
        ("POST", "/me/bind-code", {"json": {}}),
    ]
    for method, path, kwargs in cases:
        r = httpx.request(method, f"{base}{path}", headers=h, **kwargs)
        assert r.status_code == 400, (method, path, kwargs, r.text)
        assert r.json()["error"]["code"] == "invalid_request", (method, path)
        assert r.json()["error"]["message"]


def test_me_routes_need_a_live_key(base: str) -> None:
    account_id, key, _ = _affiliate(base)
    routes = [
        ("POST", "/me/apply", {"displayName": "Kay", "contactEmail": "k@example.com"}),
        ("GET", "/me", None),
        ("PATCH", "/me", {"displayName": "Kay"}),
        ("GET", "/me/code", None),
        ("GET", "/me/dashboard", None),
        ("GET", "/me/commissions", None),
        ("GET", "/me/payouts", None),
        ("GET", "/me/payout-requests", None),
        ("POST", "/me/payout-requests", {}),
        ("POST", "/me/bind-code", {"code": "ABCD2345"}),
    ]
    revoked = identity.create_api_key(account_id=account_id, site=identity.Site.MEDIA)
    identity.revoke_api_key(key_hash=identity.hash_key(revoked), account_id=account_id)
    for headers in ({}, auth("kt_not-a-key"), auth(revoked)):
        for method, path, body in routes:
            r = httpx.request(method, f"{base}{path}", json=body, headers=headers)
            _error(r, 401, "unauthorized")
    assert httpx.get(f"{base}/me", headers=auth(key)).status_code == 200
