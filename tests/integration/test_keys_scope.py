"""A worker-bound key (grid worker registration binds it) serves the grid worker routes
only: key minting, payout addresses, payouts, spending and every other site refuse it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.engine import identity
from tests.helpers import auth, site_url
from tests.integration.grid_client import Api


@pytest.fixture
def bound(stack: Any) -> tuple[str, str, str]:
    """(account id, worker-bound key, an unbound key of the same account)."""
    email = f"vol-{uuid.uuid4().hex[:10]}@example.com"
    account = identity.create_account(email=email)
    key = identity.create_api_key(account_id=account.id, site=identity.Site.GRID)
    other = identity.create_api_key(account_id=account.id, site=identity.Site.MEDIA)
    media = f"{site_url(stack, 'media')}/api/v1"
    # Before binding, the key is an account key like any other.
    assert httpx.get(f"{media}/balance", headers=auth(key)).status_code == 200
    applied = httpx.post(
        f"{media}/affiliates/me/apply",
        json={"displayName": "Vol", "contactEmail": email, "payoutAddress": "me@x"},
        headers=auth(key),
    )
    assert applied.status_code == 201, applied.text
    registered = Api(stack, key).post(
        "/worker/register", json={"name": "rig", "models": [{"name": "scope:1b"}]}
    )
    assert registered.status_code == 201, registered.text
    return account.id, key, other


def _media_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"


def test_worker_key_still_serves_the_worker_routes(stack: Any, bound: Any) -> None:
    _, key, _ = bound
    worker = Api(stack, key)
    assert worker.patch("/worker/heartbeat").json() == {"status": "ok"}
    assert worker.get("/worker/credits").status_code == 200
    again = worker.post("/worker/register", json={"name": "rig", "models": [{"name": "a:1b"}]})
    assert again.status_code == 201, again.text


def test_worker_key_cannot_mint_keys(stack: Any, bound: Any) -> None:
    account_id, key, _ = bound
    media = f"{site_url(stack, 'media')}/api/v1"
    before = len(identity.list_api_keys(account_id))
    _media_forbidden(httpx.post(f"{media}/keys", json={"label": "new"}, headers=auth(key)))
    started = httpx.post(f"{media}/device/link/start", json={}).json()
    approve = {"userCode": started["userCode"]}
    _media_forbidden(httpx.post(f"{media}/device/link/approve", json=approve, headers=auth(key)))
    assert len(identity.list_api_keys(account_id)) == before


def test_worker_key_cannot_touch_payouts_or_spend(stack: Any, bound: Any) -> None:
    _, key, other = bound
    media = f"{site_url(stack, 'media')}/api/v1"
    patch = httpx.patch(
        f"{media}/affiliates/me", json={"payoutAddress": "thief@x"}, headers=auth(key)
    )
    _media_forbidden(patch)
    _media_forbidden(httpx.post(f"{media}/affiliates/me/payout-requests", headers=auth(key)))
    _media_forbidden(httpx.get(f"{media}/balance", headers=auth(key)))
    me = httpx.get(f"{media}/affiliates/me", headers=auth(other)).json()
    assert me["payoutAddress"] == "me@x"  # the unbound key of the account still works


def test_worker_key_is_refused_on_other_sites_and_grid_client_routes(
    stack: Any, bound: Any
) -> None:
    _, key, _ = bound
    pics = httpx.get(f"{site_url(stack, 'pics')}/api/v1/users/me", headers=auth(key))
    assert pics.status_code == 403 and pics.json()["code"] == "FORBIDDEN", pics.text
    market = httpx.get(f"{site_url(stack, 'market')}/api/marketplace/runs", headers=auth(key))
    assert market.status_code == 403, market.text
    assert market.json()["error"]["code"] == "ERR_1003"
    grid = Api(stack, key)
    submit = grid.post("/jobs", json={"model": "scope:1b", "prompt": "hi"})
    assert submit.status_code == 403 and submit.json() == {"error": "forbidden"}
    assert grid.get("/usage").status_code == 403
    library = httpx.get(f"{site_url(stack, 'library')}/api/v1/models", headers=auth(key))
    assert library.status_code == 401
