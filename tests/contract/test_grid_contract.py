"""Vibe Earning against its own document: schemathesis drives every operation (client and
worker) with a key that is both a client key and worker-bound, and checks each response:
no 5xx; status code, content type, headers and body as documented."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared import identity, ledger
from tests.helpers import site_url

SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "002_b32a445ad7ff1839.txt"
schema = schemathesis.openapi.from_dict(yaml.safe_load(SEED.read_text()))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def grid_client(stack) -> dict[str, object]:
    account = identity.create_account(email=f"contract-{uuid.uuid4().hex[:8]}@example.com")
    ledger.credit(account_id=account.id, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()),
                  micros=10_000_000)
    key = identity.create_api_key(account_id=account.id, site=identity.Site.GRID)
    base = f"{site_url(stack, 'grid')}/api/v1"
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.post(f"{base}/worker/register", headers=headers,
                      json={"models": [{"name": "contract:1b"}]}).status_code == 201
    return {"base_url": base, "headers": headers}


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_matches_the_document(case, grid_client) -> None:
    case.call_and_validate(base_url=grid_client["base_url"], headers=grid_client["headers"],
                           checks=CHECKS, timeout=60)
