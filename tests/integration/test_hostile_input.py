"""Hostile input through the gateway: each answers a 4xx in its site's envelope, writes
nothing, and leaves every site up.

These inputs once answered 500, and deeply nested JSON crashed the gateway process: py_ecc
(imported by x402's EVM scheme on the first x402 purchase) raises the recursion limit to
100,000, so the C JSON decoder recursed past a request thread's 8 MiB stack.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.engine import identity, ledger
from tests.helpers import auth, media_account, new_account, site_url, task_headers

DEEP = b"[" * 200_000 + b"]" * 200_000
HUGE = b'{"prompt": "' + b"x" * (2 << 20) + b'"}'


def _grid_key() -> tuple[str, str]:
    account = identity.create_account(email=f"hostile-{uuid.uuid4().hex[:10]}@example.com")
    return account.id, identity.create_api_key(account_id=account.id, site=identity.Site.GRID)


def _pics_envelope(response: httpx.Response) -> None:
    body = response.json()
    assert isinstance(body["error"], str) and isinstance(body["code"], str), body


def _grid_envelope(response: httpx.Response) -> None:
    body = response.json()
    assert isinstance(body.get("error"), str) or isinstance(body.get("errors"), list), body


def _media_envelope(response: httpx.Response) -> None:
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error


def _internal_envelope(response: httpx.Response) -> None:
    assert isinstance(response.json()["error"], str)


@pytest.fixture(scope="module")
def targets(stack) -> list[tuple[str, dict[str, str], Any]]:
    """One JSON route per site and internal function: (url, headers, envelope check)."""
    _, pics_key = new_account(credits=10)
    _, grid_key = _grid_key()
    _, media_key = media_account()
    pics, grid, media = (site_url(stack, s) for s in ("pics", "grid", "media"))
    functions = f"http://127.0.0.1:{stack.ports['functions']}"
    return [
        (f"{pics}/api/v1/jobs", auth(pics_key), _pics_envelope),
        (f"{grid}/api/v1/jobs", auth(grid_key), _grid_envelope),
        (f"{grid}/api/v1/blobs", auth(grid_key), _grid_envelope),
        (f"{media}/api/v1/claim/stripe", auth(media_key), _media_envelope),
        (f"{media}/api/v1/affiliates/validate-code", {}, _media_envelope),
        (f"{functions}/task_dispatch", task_headers("task_dispatch"), _internal_envelope),
        (
            f"{functions}/task_deliver_webhook",
            task_headers("task_deliver_webhook"),
            _internal_envelope,
        ),
        (f"{functions}/callback_gpu?job=x&token=y", {}, _internal_envelope),
    ]


def _all_sites_answer(stack) -> None:
    for site, path in (("pics", "/api/v1/tiers"), ("media", "/api/v1/health")):
        assert httpx.get(site_url(stack, site) + path, timeout=30).status_code == 200
    assert httpx.get(site_url(stack, "grid") + "/api/v1/models", timeout=30).status_code == 401


def test_deeply_nested_json_is_a_4xx_everywhere_and_the_gateway_survives(stack, targets) -> None:
    # The first x402 purchase imports py_ecc, which is what made deep recursion fatal.
    _, media_key = media_account()
    x402 = httpx.post(
        f"{site_url(stack, 'media')}/api/v1/credits/purchase/x402",
        json={"usdCents": 100},
        headers=auth(media_key),
        timeout=60,
    )
    assert x402.status_code == 402, x402.text
    for url, headers, envelope in targets:
        response = httpx.post(
            url, content=DEEP, headers={**headers, "Content-Type": "application/json"}, timeout=60
        )
        assert 400 <= response.status_code < 500, (url, response.status_code, response.text)
        envelope(response)
    _all_sites_answer(stack)


def test_a_body_over_the_size_limit_is_a_413_in_the_sites_envelope(stack, targets) -> None:
    for url, headers, envelope in targets:
        response = httpx.post(
            url, content=HUGE, headers={**headers, "Content-Type": "application/json"}, timeout=60
        )
        assert response.status_code == 413, (url, response.status_code, response.text)
        envelope(response)
    _all_sites_answer(stack)


@pytest.mark.parametrize("limit", ["²", "٣", "+1", "1e3", "0"])
def test_unicode_or_malformed_limit_is_a_400(stack, limit: str) -> None:
    _, key = media_account()
    response = httpx.get(
        f"{site_url(stack, 'media')}/api/v1/affiliates/me/commissions",
        params={"limit": limit},
        headers=auth(key),
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("bad_id", ["a/b", "../x", "..", ".", "__x__", "x" * 300])
def test_claim_with_an_id_firestore_cannot_hold_is_a_400_and_writes_nothing(
    stack, bad_id: str
) -> None:
    account_id, key = media_account()
    api = f"{site_url(stack, 'media')}/api/v1"
    for path, field in (("/claim/stripe", "sessionId"), ("/claim/crypto", "chargeId")):
        response = httpx.post(api + path, json={field: bad_id}, headers=auth(key), timeout=30)
        assert response.status_code == 400, (path, response.text)
        _media_envelope(response)
    assert ledger.entries(account_id) == []
    assert ledger.balance(account_id).balance_micros == 0


def test_grid_job_with_a_reserved_tag_is_a_422_and_creates_nothing(stack) -> None:
    _, key = _grid_key()
    api = f"{site_url(stack, 'grid')}/api/v1"
    response = httpx.post(
        f"{api}/jobs", json={"prompt": "hi", "tag": "__x__"}, headers=auth(key), timeout=30
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"], response.text
    assert httpx.get(f"{api}/jobs", headers=auth(key), timeout=30).json() == []
    usage = httpx.get(f"{api}/usage", headers=auth(key), timeout=30).json()
    assert usage["by_tag"] == {}, usage


@pytest.mark.parametrize(
    "query",
    [
        {"from": "0001-01-01T00:00:00+01:00"},
        {"to": "9999-12-31T23:59:59-01:00"},
        {"from": "yesterday"},
        {"offset": "²"},
        {"offset": "٣"},
    ],
)
def test_grid_list_with_an_unrepresentable_filter_is_a_422(stack, query: dict[str, str]) -> None:
    _, key = _grid_key()
    response = httpx.get(
        f"{site_url(stack, 'grid')}/api/v1/jobs", params=query, headers=auth(key), timeout=30
    )
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["error"], str)


@pytest.mark.parametrize("offset", ["5" * 29, "-" + "5" * 29])
def test_grid_list_offset_beyond_int64_is_an_end_or_a_start(stack, offset: str) -> None:
    _, key = _grid_key()
    response = httpx.get(
        f"{site_url(stack, 'grid')}/api/v1/jobs",
        params={"offset": offset},
        headers=auth(key),
        timeout=30,
    )
    assert response.status_code == 200 and response.json() == [], response.text


@pytest.mark.parametrize("job_id", ["٣", "²", "9" * 19, "9" * 40, "-1"])
def test_grid_job_path_ids_are_ascii_int64_or_not_found(stack, job_id: str) -> None:
    _, key = _grid_key()
    response = httpx.get(
        f"{site_url(stack, 'grid')}/api/v1/jobs/{job_id}", headers=auth(key), timeout=30
    )
    assert response.status_code == 404, response.text
    assert response.json() == {"error": "not_found"}


def test_a_task_retry_count_in_superscript_digits_is_not_a_500(stack) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{stack.ports['functions']}/task_dispatch",
        json={"job_id": str(uuid.uuid4())},
        headers={
            **task_headers("task_dispatch"),
            "X-CloudTasks-TaskRetryCount": "²".encode("latin-1"),
        },
        timeout=30,
    )
    assert response.status_code < 500, response.text


@pytest.mark.parametrize("job_id", ["a/b", "..", "__x__"])
def test_internal_targets_refuse_ids_firestore_cannot_hold(stack, job_id: str) -> None:
    functions = f"http://127.0.0.1:{stack.ports['functions']}"
    dispatch = httpx.post(
        f"{functions}/task_dispatch",
        json={"job_id": job_id},
        headers=task_headers("task_dispatch"),
        timeout=30,
    )
    assert dispatch.status_code == 400, dispatch.text
    callback = httpx.post(
        f"{functions}/callback_gpu", params={"job": job_id, "token": "t"}, json={}, timeout=30
    )
    assert callback.status_code == 400, callback.text
