"""PicShapes against its own document: schemathesis generates requests for every operation
from the seed OpenAPI file and checks each response (no 5xx; status code, content type,
headers and body as documented)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.contract.documents import CHECKS, load
from tests.helpers import new_account, site_url

schema = load("001_c2ecba22d35cfaba.txt")


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
