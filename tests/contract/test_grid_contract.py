"""Vibe Earning against its own document: schemathesis drives every operation, the client
operations with a client key and the worker operations with a worker-bound key of the same
account (a worker-bound key serves the worker routes only). Valid requests must get
documented responses (status code, content type, headers, body); invalid ones a 4xx in
the site's envelope; none a 5xx."""

from __future__ import annotations

import uuid

import httpx
import pytest
from hypothesis import HealthCheck, settings

from shared.engine import identity, ledger
from tests.contract.documents import CHECKS, load
from tests.helpers import site_url

schema = load("002_b32a445ad7ff1839.txt")


@pytest.fixture(scope="module")
def grid_client(stack) -> dict[str, object]:
    account = identity.create_account(email=f"contract-{uuid.uuid4().hex[:8]}@example.com")
    ledger.credit(
        account_id=account.id, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=10_000_000
    )
    key = identity.create_api_key(account_id=account.id, site=identity.Site.GRID)
    worker_key = identity.create_api_key(account_id=account.id, site=identity.Site.GRID)
    base = f"{site_url(stack, 'grid')}/api/v1"
    worker = {"Authorization": f"Bearer {worker_key}"}
    assert (
        httpx.post(
            f"{base}/worker/register", headers=worker, json={"models": [{"name": "contract:1b"}]}
        ).status_code
        == 201
    )
    return {"base_url": base, "headers": {"Authorization": f"Bearer {key}"}, "worker": worker}


def _headers(case, grid_client) -> object:
    return grid_client["worker"] if case.path.startswith("/worker") else grid_client["headers"]


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_matches_the_document(case, grid_client) -> None:
    if case.meta is not None and case.meta.generation.mode.is_negative:
        # Input the document forbids: the document lists no 4xx for most operations, but
        # bad input must still get a clear 4xx in the site's envelope, never a 5xx.
        response = case.call(
            base_url=grid_client["base_url"], headers=_headers(case, grid_client), timeout=60
        )
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body.get("error") or body.get("errors"), str | list), body
        return
    case.call_and_validate(
        base_url=grid_client["base_url"],
        headers=_headers(case, grid_client),
        checks=CHECKS,
        timeout=60,
    )
