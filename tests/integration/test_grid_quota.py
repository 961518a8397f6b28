"""The free quota pauses processing, never submission; jobs run after the daily reset."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from shared.engine import clock, identity, jobs, ledger
from shared.engine.jobs import JobState
from shared.engine.store import db
from shared.grid import usage
from shared.grid.ids import job_doc_id
from shared.grid.jobs import release_quota_held
from tests.helpers import site_url


@pytest.mark.parametrize(
    "spent", [{"requests": 100, "tokens": 0}, {"requests": 3, "tokens": 50_000}]
)
def test_over_quota_job_waits_for_the_reset_then_runs(stack, spent) -> None:
    account = identity.create_account(email=f"quota-{uuid.uuid4().hex[:10]}@example.com")
    ledger.credit(
        account_id=account.id, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=100_000
    )
    key = identity.create_api_key(account_id=account.id, site=identity.Site.GRID)
    today = clock.now().strftime("%Y-%m-%d")
    db().collection(usage.USAGE).document(f"{account.id}_{today}").set(spent)
    api = f"{site_url(stack, 'grid')}/api/v1"
    model = f"q{uuid.uuid4().hex[:6]}:1b"
    created = httpx.post(
        f"{api}/jobs",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "prompt": "later"},
    )
    assert created.status_code == 201 and created.json()["status"] == "pending"
    job_id = created.json()["job_id"]
    worker_account = identity.create_account(email=f"qw-{uuid.uuid4().hex[:10]}@example.com")
    worker_key = identity.create_api_key(account_id=worker_account.id, site=identity.Site.GRID)
    worker = {"Authorization": f"Bearer {worker_key}"}
    assert (
        httpx.post(
            f"{api}/worker/register", headers=worker, json={"models": [{"name": model}]}
        ).status_code
        == 201
    )
    assert (
        httpx.get(
            f"{api}/worker/jobs/next", headers=worker, params={"models[]": [model]}, timeout=30
        ).status_code
        == 204
    )
    assert (
        release_quota_held(now=clock.now()) == 0
        or jobs.get(job_doc_id(job_id)).state is JobState.PENDING
    )
    # Midnight UTC passes (the sweep's clock, injected here).
    clock.advance(dt.timedelta(days=1))
    try:
        release_quota_held(now=clock.now())
    finally:
        clock.reset()
    assert jobs.get(job_doc_id(job_id)).state is JobState.QUEUED
    got = httpx.get(
        f"{api}/worker/jobs/next", headers=worker, params={"models[]": [model]}, timeout=30
    )
    assert got.status_code == 200 and got.json()["job_id"] == job_id


def test_private_webhook_targets_are_refused_with_422(stack) -> None:
    account = identity.create_account(email=f"ssrf-{uuid.uuid4().hex[:10]}@example.com")
    key = identity.create_api_key(account_id=account.id, site=identity.Site.GRID)
    api = f"{site_url(stack, 'grid')}/api/v1"
    # The local stack allows loopback receivers (the development allowance); cloud metadata
    # and non-HTTP schemes are refused even so.
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1/x",
    ):
        response = httpx.post(
            f"{api}/jobs",
            headers={"Authorization": f"Bearer {key}"},
            json={"prompt": "x", "webhook_url": url},
        )
        assert response.status_code == 422, (url, response.text)
        assert response.json()["errors"]
