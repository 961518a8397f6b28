"""The `relay` console script, run as an operator runs it, against the test stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from shared.engine import identity, ledger
from tests.helpers import site_url

RELAY = Path(sys.executable).parent / "relay"
ROOT = Path(__file__).resolve().parents[2]  # this checkout's code, not the venv's install


def relay(stack, *args: str, ok: bool = True) -> dict:
    result = subprocess.run(
        [str(RELAY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **stack.env, "PYTHONPATH": str(ROOT)},
    )
    assert (result.returncode == 0) is ok, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_operator_flow_account_key_credits_token_and_audit(stack) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    account = relay(stack, "account", "create", "--email", email, "--admin")
    assert account == {"uid": identity.account_id_for_email(email), "email": email}
    key = relay(stack, "key", "create", "--email", email, "--site", "pics")["key"]
    assert key.startswith("uk_")
    grant = relay(
        stack, "credits", "grant", "--email", email, "--micros", "250000", "--reason", "welcome"
    )
    assert grant["applied"] is True and grant["balance_micros"] == 250_000
    me = httpx.get(
        f"{site_url(stack, 'pics')}/api/v1/users/me", headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert me["credits"] == 25 and me["role"] == "admin"
    token = relay(stack, "token", "--email", email)["idToken"]
    claims = identity.verify_id_token(token)
    assert claims["email"] == email and claims["admin"] is True
    check = relay(stack, "ledger", "check", "--email", email)
    assert check["ok"] is True and check["entries"] == 1


def test_cli_refuses_unknown_accounts_and_sites(stack) -> None:
    missing = relay(
        stack, "key", "create", "--email", "nobody@example.com", "--site", "pics", ok=False
    )
    assert missing["ok"] is False
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    relay(stack, "account", "create", "--email", email)
    assert (
        relay(stack, "key", "create", "--email", email, "--site", "moon", ok=False)["ok"] is False
    )


def test_stored_keys_are_hashes_never_plaintext(stack) -> None:
    from shared.engine.store import API_KEYS, db

    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    relay(stack, "account", "create", "--email", email)
    key = relay(stack, "key", "create", "--email", email, "--site", "media")["key"]
    snap = db().collection(API_KEYS).document(identity.hash_key(key)).get()
    assert snap.exists
    assert key not in json.dumps(snap.to_dict(), default=str)


def test_the_same_grant_twice_credits_once(stack) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    relay(stack, "account", "create", "--email", email)
    args = ("credits", "grant", "--email", email, "--micros", "70000", "--reason", "outage 7/3")
    first, second = relay(stack, *args), relay(stack, *args)
    assert (first["applied"], second["applied"]) == (True, False)
    assert first["ref"] == second["ref"]
    assert second["balance_micros"] == 70_000
    explicit = ("credits", "grant", "--email", email, "--micros", "5000", "--reason", "x")
    relay(stack, *explicit, "--ref", "T-1")
    assert relay(stack, *explicit, "--ref", "T-1")["balance_micros"] == 75_000
    assert relay(stack, "ledger", "check", "--email", email)["ok"] is True


def test_two_accounts_may_use_the_same_grant_ref(stack) -> None:
    emails = [f"cli-{uuid.uuid4().hex[:8]}@example.com" for _ in range(2)]
    for email in emails:
        relay(stack, "account", "create", "--email", email)
    granted = [
        relay(
            stack,
            "credits",
            "grant",
            "--email",
            email,
            "--micros",
            "30000",
            "--reason",
            "launch",
            "--ref",
            "LAUNCH-2024",
        )
        for email in emails
    ]
    assert [g["applied"] for g in granted] == [True, True]
    assert [g["balance_micros"] for g in granted] == [30_000, 30_000]


def test_a_grant_needs_a_reason(stack) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    relay(stack, "account", "create", "--email", email)
    result = subprocess.run(
        [str(RELAY), "credits", "grant", "--email", email, "--micros", "1000"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **stack.env, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode != 0 and "--reason" in result.stderr
    assert ledger.balance(identity.account_id_for_email(email)).balance_micros == 0


def test_x402_reconcile_credits_a_settled_purchase_once_and_lists_unknown_ones(stack) -> None:
    from shared.engine import clock
    from shared.engine.store import db

    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    account_id = relay(stack, "account", "create", "--email", email)["uid"]
    settled, unknown = uuid.uuid4().hex, uuid.uuid4().hex
    common = {
        "provider": "x402",
        "account_id": account_id,
        "package_code": "usd_300",
        "price_cents": 300,
        "credited_cents": 0,
        "created_at": clock.now(),
        "network": "eip155:84532",
        "payer": "0x" + "ab" * 20,
    }
    # Settled by the facilitator, then the request died before the credit landed.
    db().collection("topups").document(f"x402:{settled}").create(
        {
            **common,
            "external_id": settled,
            "status": "paid",
            "nonce": "0x01",
            "transaction": "0xfeed",
            "response_header": "e30=",
        }
    )
    # The facilitator was lost mid-way: only the chain can tell.
    db().collection("topups").document(f"x402:{unknown}").create(
        {**common, "external_id": unknown, "status": "unknown", "nonce": "0x02"}
    )
    first = relay(stack, "x402", "reconcile")
    second = relay(stack, "x402", "reconcile")
    assert (first["credited"], second["credited"]) == (1, 0)
    assert ledger.balance(account_id).balance_micros == 3_000_000
    assert [e["kind"] for e in ledger.entries(account_id)] == ["topup"]
    record = db().collection("topups").document(f"x402:{settled}").get().to_dict()
    assert record["status"] == "settled" and record["transaction"] == "0xfeed"
    for result in (first, second):
        assert result["needs_operator"] == [
            {
                "paymentId": unknown,
                "accountId": account_id,
                "status": "unknown",
                "usdCents": 300,
                "network": "eip155:84532",
                "payer": "0x" + "ab" * 20,
                "nonce": "0x02",
                "transaction": None,
            }
        ]
    assert relay(stack, "ledger", "check", "--email", email)["ok"] is True
