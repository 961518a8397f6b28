"""Helpers for tests of marketplace runs: a creator's published tars model written straight
to Firestore (the studio API is another module's), consumers with credits, and polling."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

from shared.engine import identity
from shared.engine.store import db
from shared.market import records
from tests.helpers import new_account
from tests.market_helpers import Client, data, register_developer, seed_base_model


def seed_creator() -> str:
    """A developer (creator) profile; returns its account id."""
    account = identity.create_account(email=f"creator-{uuid.uuid4().hex[:12]}@example.com")
    register_developer(account.id, name="Creator")
    return account.id


def seed_tars_model(
    *,
    base_model_id: str,
    creator_id: str | None = None,
    status: records.TarsStatus = records.TarsStatus.PUBLISHED,
    price_credits: int | None = None,
    overrides: dict[str, Any] | None = None,
    title: str = "Tiny Lighthouse Painter",
) -> records.TarsModelRecord:
    now = dt.datetime.now(dt.UTC)
    tars = records.TarsModelRecord(
        id=str(uuid.uuid4()),
        developer_id=creator_id or seed_creator(),
        title=title,
        slug=f"painter-{uuid.uuid4().hex[:10]}",
        description="Paints lighthouses",
        base_model_id=base_model_id,
        config_overrides_json=json.dumps(overrides or {}),
        price_credits=price_credits,
        status=status,
        published_at=now if status is records.TarsStatus.PUBLISHED else None,
        created_at=now,
        updated_at=now,
    )
    db().collection(records.TARS_MODELS).document(tars.id).set(
        tars.model_dump(mode="python", exclude={"id"})
    )
    db().collection(records.SLUGS).document(records.slug_claim_id("tars", tars.slug)).set(
        {"id": tars.id}
    )
    return tars


def published_model(
    *, price_credits: int = 10, runpod_endpoint_id: str = "z-image-turbo", **base: Any
) -> records.TarsModelRecord:
    """A published tars model (the base model's price) on a fresh base model."""
    _, base_id = seed_base_model(
        price_credits=price_credits, runpod_endpoint_id=runpod_endpoint_id, **base
    )
    return seed_tars_model(base_model_id=base_id)


def consumer(base: str, credits: int = 0) -> tuple[str, Client]:
    """A consumer account with `credits` credits and a client using its market API key."""
    account_id, key = new_account(credits=credits, site=identity.Site.MARKET)
    return account_id, Client(base, key)


def run(client: Client, slug: str, inputs: dict[str, Any], **kwargs: Any) -> str:
    """Start a run (asserting 202); returns its execution id."""
    response = client.post(f"/api/marketplace/models/{slug}/run", json={"inputs": inputs}, **kwargs)
    return str(data(response, 202)["executionId"])


def wait_status(
    client: Client, run_id: str, until: set[str], timeout: float = 180.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = data(client.get(f"/api/marketplace/runs/{run_id}/status"))
        if body["status"] in until:
            return body
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} not in {until} after {timeout}s: {body}")
