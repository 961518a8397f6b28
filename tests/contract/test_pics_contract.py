"""PicShapes against its own document: schemathesis generates requests for every operation
from the seed OpenAPI file and checks each response (no 5xx; status code, content type,
headers and body as documented)."""

from __future__ import annotations

from pathlib import Path

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

from tests.helpers import new_account, site_url

SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "001_c2ecba22d35cfaba.txt"
schema = schemathesis.openapi.from_dict(yaml.safe_load(SEED.read_text()))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def pics_client(stack) -> dict[str, object]:
    _, key = new_account(credits=200)
    return {"base_url": site_url(stack, "pics"), "headers": {"Authorization": f"Bearer {key}"}}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_matches_the_document(case, pics_client) -> None:
    case.call_and_validate(
        base_url=pics_client["base_url"], headers=pics_client["headers"], checks=CHECKS, timeout=60
    )
