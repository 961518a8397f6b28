"""The Stripe-paid priority boost: +50 only after payment settles, and only once."""

from __future__ import annotations

import time
import uuid

import httpx

from shared.engine import identity, jobs, ledger
from shared.grid.ids import job_doc_id
from tests.helpers import site_url


def _client(stack) -> tuple[str, dict[str, str]]:
    account = identity.create_account(email=f"boost-{uuid.uuid4().hex[:10]}@example.com")
    ledger.credit(
        account_id=account.id, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=100_000
    )
    key = identity.create_api_key(account_id=account.id, site=identity.Site.GRID)
    return f"{site_url(stack, 'grid')}/api/v1", {"Authorization": f"Bearer {key}"}


def _wait_priority(api: str, headers: dict, job_id: int, value: int) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = httpx.get(f"{api}/jobs/{job_id}", headers=headers).json()
        if job["priority"] == value:
            return job
        time.sleep(0.2)
    raise AssertionError(f"priority never became {value}: {job}")


def test_boost_applies_once_after_the_checkout_is_paid(stack) -> None:
    api, headers = _client(stack)
    created = httpx.post(
        f"{api}/jobs",
        headers=headers,
        json={"model": "nobody-serves:1b", "prompt": "x", "priority": 5, "priority_boost": True},
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["priority"] == 5
    assert job["priority_boost"]["status"] == "awaiting_payment"
    assert job["priority_boost"]["checkout_url"].startswith("http://127.0.0.1:")
    session_id = jobs.get(job_doc_id(job["job_id"])).site_fields["boost"]["session_id"]
    stripe = f"http://127.0.0.1:{stack.ports['stripe']}"
    time.sleep(1)
    assert (
        _wait_priority(api, headers, job["job_id"], 5)["priority_boost"]["status"]
        == "awaiting_payment"
    )
    assert httpx.post(f"{stripe}/_local/checkout/{session_id}/complete").status_code == 200
    boosted = _wait_priority(api, headers, job["job_id"], 55)
    assert boosted["priority_boost"]["status"] == "applied"
    events = httpx.get(
        f"{stripe}/v1/events",
        params={"type": "checkout.session.completed"},
        headers={"Authorization": "Bearer sk_test_local"},
    ).json()["data"]
    event_id = next(e["id"] for e in events if e["data"]["object"]["id"] == session_id)
    for _ in range(3):
        httpx.post(f"{stripe}/_local/events/{event_id}/resend")
    time.sleep(2)
    assert httpx.get(f"{api}/jobs/{job['job_id']}", headers=headers).json()["priority"] == 55


def test_stripe_webhook_with_a_bad_signature_is_refused(stack) -> None:
    url = f"http://127.0.0.1:{stack.ports['functions']}/stripe_webhook"
    body = b'{"type": "checkout.session.completed", "data": {"object": {}}}'
    for headers in ({}, {"Stripe-Signature": "t=1,v1=deadbeef"}):
        response = httpx.post(url, content=body, headers=headers)
        assert response.status_code == 400
