"""Small helpers for tests that drive the running stack as a client would."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from shared import identity, ledger


def site_url(stack: Any, site: str) -> str:
    return f"http://127.0.0.1:{stack.ports[site]}"


def new_account(*, credits: int = 0, email: str | None = None) -> tuple[str, str]:
    """A fresh account with a pics key and `credits` credits; returns (account id, key)."""
    email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
    account = identity.create_account(email=email)
    if credits:
        ledger.credit(
            account_id=account.id,
            kind=ledger.EntryKind.GRANT,
            ref=str(uuid.uuid4()),
            micros=credits * 10_000,
        )
    key = identity.create_api_key(account_id=account.id, site=identity.Site.PICS)
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
