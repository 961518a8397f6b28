"""Tarsify end to end, as the README walks it: a developer publishes a tars model on a shipped
base model, a consumer runs it and downloads the real image, the developer sees the earning,
connects Stripe and is paid out once over the minimum. Only HTTP, as clients do (plus the
operator's seed and credit grant); the GPU work runs on the local RunPod worker.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from shared.engine import ledger
from shared.market import seed
from tests.helpers import assert_audited, new_account, stripe_url
from tests.market_helpers import Client, data, id_token, market_api

PRICE = 6_250  # credits: the creator earns floor(80 %) = 5,000, the payout minimum


def _wait(client: Client, path: str, done: set[str], timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = data(client.get(path))
        if status["status"] in done or time.monotonic() > deadline:
            return dict(status)
        time.sleep(0.5)


def test_publish_run_earn_connect_and_get_paid(stack) -> None:
    seed.seed()
    api = market_api(stack)
    email, token = id_token()
    dev = Client(api, token)
    me = data(
        dev.post("/api/studio/auth/register", json={"email": email, "displayName": "Ada"}), 201
    )

    bases = data(dev.get("/api/studio/base-models", params={"category": "IMAGE"}))
    base = next(b for b in bases if b["slug"] == "z-image-turbo-text-to-image")
    slug = f"walk-{uuid.uuid4().hex[:8]}"
    model = data(
        dev.post(
            "/api/studio/tars-models",
            json={
                "title": "Walkthrough Art",
                "slug": slug,
                "description": "Tiny images for the walkthrough",
                "baseModelId": base["id"],
                "configOverrides": {"negative_prompt": "blurry"},
                "priceCredits": PRICE,
            },
        ),
        201,
    )
    assert data(dev.post(f"/api/studio/tars-models/{model['id']}/publish"))["status"] == (
        "PUBLISHED"
    )

    consumer_id, key = new_account(credits=PRICE)
    consumer = Client(api, key)
    listed = data(Client(api).get(f"/api/marketplace/models/{slug}"))
    assert listed["developer"] == {"id": me["id"], "name": "Ada"}
    run = data(
        consumer.post(
            f"/api/marketplace/models/{slug}/run",
            json={"inputs": {"prompt": "a lighthouse at dusk", "width": 512, "height": 512}},
        ),
        202,
    )
    status = _wait(
        consumer, f"/api/marketplace/runs/{run['executionId']}/status", {"COMPLETED", "FAILED"}
    )
    assert status["status"] == "COMPLETED", status
    detail = data(consumer.get(f"/api/marketplace/runs/{run['executionId']}"))
    image = httpx.get(detail["outputPayload"]["output"], timeout=30)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert ledger.balance(consumer_id).balance_micros == 0

    earnings = data(dev.get("/api/studio/earnings"))
    assert earnings["totalEarnings"] == 5_000
    assert earnings["thisMonth"] == {"gross": PRICE, "platformFee": PRICE - 5_000, "net": 5_000}

    link = data(dev.post("/api/studio/payouts/connect-stripe", json={}))
    assert link["onboardingUrl"].startswith(stripe_url(stack))
    onboarded = httpx.post(link["onboardingUrl"].rstrip("/") + "/submit", timeout=10)
    assert onboarded.status_code in (200, 303), onboarded.text  # 303: to the returnUrl
    payout = data(dev.post("/api/studio/payouts/request", json={"amount": 5_000}), 201)
    deadline = time.monotonic() + 30
    while True:
        payouts = data(dev.get("/api/studio/payouts"))
        if payouts[0]["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert [(p["id"], p["status"], p["amount"]) for p in payouts] == [
        (payout["id"], "completed", 5_000)
    ]
    assert data(dev.get("/api/studio/earnings"))["totalPaidOut"] == 5_000
    assert ledger.balance(ledger.earnings_account(me["id"])).balance_micros == 0
    assert_audited(consumer_id, me["id"])
