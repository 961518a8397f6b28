"""The credit gateway's whole story, as README's walkthrough tells it, over HTTP only.

A referrer signs in by email code and becomes an affiliate; a new user follows the
referral link, signs in by email code (the code read from the local mail sink), and tops
up three ways: a Stripe Checkout completed on the local Stripe server's page and claimed,
a Coinbase charge paid on the local hosted page and claimed, and an x402 purchase paid by
the local wallet's CLI. The balance is exact, the referrer's dashboard shows 10% of each,
and `relay ledger check` is clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.helpers import mail_code, media_api

BIN = Path(sys.executable).parent


def _sign_in(stack, client: httpx.Client, email: str) -> str:
    api = media_api(stack)
    assert client.post(f"{api}/auth/email/start", json={"email": email}).status_code == 202
    verified = client.post(
        f"{api}/auth/email/verify", json={"email": email, "code": mail_code(stack, email)}
    )
    assert verified.status_code == 201, verified.text
    return str(verified.json()["apiKey"])


def test_sign_in_top_up_three_ways_and_pay_the_referrer(stack) -> None:
    api = media_api(stack)
    referrer_email = f"ref-{uuid.uuid4().hex[:8]}@example.com"
    user_email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(timeout=60) as referrer:
        ref_key = _sign_in(stack, referrer, referrer_email)
        referrer.headers["Authorization"] = f"Bearer {ref_key}"
        applied = referrer.post(
            f"{api}/affiliates/me/apply",
            json={"displayName": "Ref", "contactEmail": referrer_email, "payoutAddress": "ref@x"},
        )
        assert applied.status_code == 201, applied.text
        code = referrer.get(f"{api}/affiliates/me/code").json()["code"]

    with httpx.Client(timeout=60) as browser:
        landing = browser.get(f"{api}/affiliates/r", params={"code": code})
        assert landing.status_code == 302 and "__session" in browser.cookies
        key = _sign_in(stack, browser, user_email)
        browser.headers["Authorization"] = f"Bearer {key}"
        bound = browser.post(f"{api}/affiliates/me/bind-code", json={"code": code})
        assert bound.status_code == 201, bound.text

        # Stripe: checkout, pay on the local Stripe page, claim.
        checkout = browser.post(f"{api}/checkout/stripe", json={"packageCode": "creator_20"})
        session_id = checkout.json()["sessionId"]
        page = httpx.get(checkout.json()["checkoutUrl"])
        assert page.status_code == 200 and session_id in page.text
        stripe = f"http://127.0.0.1:{stack.ports['stripe']}"
        assert httpx.post(f"{stripe}/_local/checkout/{session_id}/complete").status_code == 200
        claim = browser.post(f"{api}/claim/stripe", json={"sessionId": session_id})
        assert claim.status_code == 200 and claim.json()["depositUsdCents"] == 2_000

        # Coinbase: charge, pay on the hosted page, claim.
        charge = browser.post(f"{api}/checkout/crypto", json={"packageCode": "starter_5"}).json()
        hosted = charge["checkoutUrl"]
        assert httpx.get(hosted).status_code == 200
        paid = httpx.post(hosted, data={}, follow_redirects=False)
        assert paid.status_code in (200, 303), paid.text
        claim = browser.post(f"{api}/claim/crypto", json={"chargeId": charge["chargeId"]})
        assert claim.status_code == 200, claim.text
        assert claim.json()["depositUsdCents"] == 500

        # x402: the local wallet's CLI does the 402 dance.
        bought = subprocess.run(
            [
                sys.executable,
                "-m",
                "infra.local.x402_wallet",
                "buy",
                "--url",
                f"{api}/credits/purchase/x402",
                "--api-key",
                key,
                "--usd-cents",
                "300",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **stack.env},
        )
        assert bought.returncode == 0, bought.stdout + bought.stderr
        assert "status: 201" in bought.stdout

        balance = browser.get(f"{api}/balance").json()
        assert balance["balanceUsdMicros"] == (2_000 + 500 + 300) * 10_000

    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {ref_key}"}) as referrer:
        dashboard = referrer.get(f"{api}/affiliates/me/dashboard").json()
        assert dashboard["referredAccounts"] == 1
        assert dashboard["totals"]["earnedUsdMicros"] == 2_800_000  # 10% of $28
        commissions = referrer.get(f"{api}/affiliates/me/commissions").json()["commissions"]
        assert sorted(c["depositUsdMicros"] for c in commissions) == [
            3_000_000,
            5_000_000,
            20_000_000,
        ]

    for email in (user_email, referrer_email):
        audit = subprocess.run(
            [str(BIN / "relay"), "ledger", "check", "--email", email],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **stack.env},
        )
        assert audit.returncode == 0, audit.stderr
        assert json.loads(audit.stdout.strip().splitlines()[-1])["ok"] is True
