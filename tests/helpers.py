"""Small helpers for tests that drive the running stack as a client would."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from shared.engine import identity, ledger


def site_url(stack: Any, site: str) -> str:
    return f"http://127.0.0.1:{stack.ports[site]}"


def new_account(
    *,
    credits: int = 0,
    micros: int = 0,
    email: str | None = None,
    site: identity.Site = identity.Site.PICS,
) -> tuple[str, str]:
    """A fresh account with a key minted by `site` and `credits` credits (or `micros`)
    granted on its prepaid account; returns (account id, key)."""
    email = email or f"{site}-{uuid.uuid4().hex[:12]}@example.com"
    account = identity.create_account(email=email)
    if credits or micros:
        ledger.credit(
            account_id=account.id,
            kind=ledger.EntryKind.GRANT,
            ref=str(uuid.uuid4()),
            micros=micros + credits * 10_000,
        )
    key = identity.create_api_key(account_id=account.id, site=site)
    return account.id, key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def poll_job(base: str, job_id: str, *, until: set[str], timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{base}/api/v1/jobs/{job_id}", timeout=10).json()
        if body["status"] in until:
            return body
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} not in {until} after {timeout}s: {body}")


def media_api(stack: Any) -> str:
    return f"{site_url(stack, 'media')}/api/v1"


def media_account(*, email: str | None = None, micros: int = 0) -> tuple[str, str]:
    """A fresh account with a Killa Tamata key (and `micros` granted); (account id, key)."""
    email = email or f"kt-{uuid.uuid4().hex[:12]}@example.com"
    return new_account(micros=micros, email=email, site=identity.Site.MEDIA)


def google_id_token(stack: Any, email: str, *, verified: bool = True) -> str:
    """A Google sign-in ID token minted by the Firebase Auth emulator (google.com provider)."""
    import json
    from urllib.parse import urlencode

    claims = {"sub": f"g-{uuid.uuid4().hex}", "email": email, "email_verified": verified}
    response = httpx.post(
        f"http://127.0.0.1:{stack.ports['auth']}/identitytoolkit.googleapis.com/v1/"
        "accounts:signInWithIdp?key=local-api-key",
        json={
            "postBody": urlencode({"id_token": json.dumps(claims), "providerId": "google.com"}),
            "requestUri": "http://localhost",
            "returnIdpCredential": True,
            "returnSecureToken": True,
        },
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["idToken"])


def mail_code(stack: Any, email: str, timeout: float = 10.0) -> str:
    """The one-time code in the newest sign-in mail to `email`, read from the local sink."""
    import re

    from infra.local.mail_sink import latest_message

    message = latest_message(f"http://127.0.0.1:{stack.ports['mail']}", to=email, timeout=timeout)
    match = re.search(r"\b(\d{6})\b", message["text"])
    assert match, message
    return match.group(1)


def media_balance(api: str, key: str) -> int:
    return int(httpx.get(f"{api}/balance", headers=auth(key)).json()["balanceUsdMicros"])


def ledger_entries(account_id: str, kind: ledger.EntryKind) -> list[dict[str, Any]]:
    return [e for e in ledger.entries(account_id) if e["kind"] == kind]


def wait_at_rest(account_id: str, *, quiet_s: float = 2.0, limit_s: float = 120.0) -> None:
    """Wait until the account's ledger stops moving (no new entry for `quiet_s`): the audit
    proves money at rest, and reads shards, entries and jobs one after another, so a job
    settling in between would look like a discrepancy that is not one."""
    from shared.engine import ledger

    deadline = time.monotonic() + limit_s
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(ledger.entries(account_id))
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.2)


def assert_audited(*account_ids: str) -> None:
    """`relay ledger check` holds for each account."""
    from shared.engine import audit

    for account_id in account_ids:
        result = audit.check(account_id)
        assert result["ok"], result


def stripe_url(stack: Any) -> str:
    """The local Stripe server of the test stack."""
    return f"http://127.0.0.1:{stack.ports['stripe']}"


def stripe_event(stack: Any, kind: str, object_id: str) -> dict[str, Any]:
    """The local Stripe server's event of `kind` about `object_id` (waits up to 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = httpx.get(
            f"{stripe_url(stack)}/v1/events",
            params={"type": kind, "limit": 100},
            headers={"Authorization": "Bearer sk_test_local"},
        ).json()["data"]
        for event in events:
            if event["data"]["object"]["id"] == object_id:
                return event
        time.sleep(0.2)
    raise AssertionError(f"no {kind} event for {object_id}")


def task_headers(target: str) -> dict[str, str]:
    """What Cloud Tasks presents to a task target locally: the tasks account's OIDC ID token
    for that target's URL, signed by the local key (shared/engine/task_auth.py)."""
    from shared.engine.queue import task_url
    from shared.engine.task_auth import local_token

    return {"Authorization": f"Bearer {local_token(task_url(target))}"}
