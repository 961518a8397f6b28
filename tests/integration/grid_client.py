"""What the grid tests share: accounts with keys, a client of the API, a registered worker."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from shared.engine import identity, ledger
from tests.helpers import new_account, site_url


def grid_key(credits: int = 0, *, email: str | None = None) -> tuple[str, str]:
    """A fresh account with a grid key and `credits` prepaid credits: (account id, key)."""
    return new_account(credits=credits, email=email, site=identity.Site.GRID)


class Api:
    def __init__(self, stack: Any, key: str):
        self.base = f"{site_url(stack, 'grid')}/api/v1"
        self.headers = {"Authorization": f"Bearer {key}"}

    def __getattr__(self, method: str) -> Any:
        def call(path: str, **kwargs: Any) -> httpx.Response:
            headers = self.headers | kwargs.pop("headers", {})
            return httpx.request(
                method.upper(), self.base + path, headers=headers, timeout=60, **kwargs
            )

        return call


def register_worker(stack: Any, model: str, *, credits: int = 0) -> tuple[Api, str]:
    """A worker serving `model` (and its family): (its API, its account id)."""
    account_id, key = grid_key(credits)
    api = Api(stack, key)
    registered = api.post(
        "/worker/register",
        json={
            "name": f"rig-{uuid.uuid4().hex[:6]}",
            "models": [{"name": model, "serves_family": True}],
        },
    )
    assert registered.status_code == 201, registered.text
    return api, account_id


def run_job(worker: Api, model: str, *, output: str, output_tokens: int) -> httpx.Response:
    """Claim the next job of `model`, start it and post this result."""
    got = worker.get("/worker/jobs/next", params={"models[]": [model]})
    assert got.status_code == 200, got.text
    job_id = got.json()["job_id"]
    assert worker.patch(f"/worker/jobs/{job_id}/start").status_code == 200
    return worker.post(
        f"/worker/jobs/{job_id}/result",
        json={"output": output, "output_tokens": output_tokens, "duration_ms": 5},
    )


def earned_micros(account_id: str) -> int:
    return ledger.balance(ledger.earnings_account(account_id)).balance_micros
