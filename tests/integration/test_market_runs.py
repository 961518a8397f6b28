"""Tarsify marketplace runs through the API: starting a run (inputs merged and validated),
the consumer's run history, one run's details and status, and what callers get wrong."""

from __future__ import annotations

import re
import uuid

import httpx

from shared.engine import jobs, ledger
from shared.engine.jobs import JobState
from tests.helpers import ledger_entries
from tests.integration.runpod_faults import faults, wait_dispatched
from tests.market_helpers import Client, data, error_code, id_token, market_api, seed_base_model
from tests.market_runs_helpers import (
    consumer,
    published_model,
    run,
    seed_tars_model,
    wait_status,
)
from tests.stack_fixture import IDLE_MODEL

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PROMPT = {"prompt": "a lighthouse at dusk"}


def test_a_completed_run_shows_its_inputs_and_a_signed_output_url(stack) -> None:
    tars = published_model(price_credits=2)
    _, client = consumer(market_api(stack), credits=2)
    response = client.post(
        f"/api/marketplace/models/{tars.slug}/run", json={"inputs": {**PROMPT, "seed": 7}}
    )
    started = data(response, 202)
    assert started["status"] == "PENDING" and started["estimatedSeconds"] == 5
    assert response.headers["X-RateLimit-Limit"]
    run_id = started["executionId"]
    status = wait_status(client, run_id, {"COMPLETED", "FAILED", "CANCELLED"})
    assert status["status"] == "COMPLETED", status
    detail = data(client.get(f"/api/marketplace/runs/{run_id}"))
    assert detail["inputPayload"] == {**PROMPT, "seed": 7}
    assert detail["tarsModel"] == {"id": tars.id, "title": tars.title, "slug": tars.slug}
    assert ISO.match(detail["createdAt"]) and ISO.match(detail["completedAt"])
    assert isinstance(detail["executionTimeMs"], int) and detail["executionTimeMs"] >= 0
    assert detail["errorMessage"] is None
    url = detail["outputPayload"]["output"]
    assert "X-Goog-Signature" in url
    image = httpx.get(url, timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert status["outputPayload"]["output"].split("?")[0] == url.split("?")[0]


def test_job_input_is_schema_defaults_then_overrides_then_inputs_then_fixed_input(stack) -> None:
    _, base_id = seed_base_model(runpod_endpoint_id=IDLE_MODEL, price_credits=1)
    tars = seed_tars_model(
        base_model_id=base_id, overrides={"width": 512, "negative_prompt": "blurry"}
    )
    _, client = consumer(market_api(stack), credits=1)
    run_id = run(client, tars.slug, {"prompt": "a fox", "negative_prompt": "dark"})
    job = jobs.get(run_id)
    assert job.input == {
        "prompt": "a fox",
        "negative_prompt": "dark",
        "width": 512,
        "height": 256,
        "model": "z-image-turbo",
        "steps": 2,
    }
    assert (job.site, job.backend, job.endpoint) == ("market", "runpod", IDLE_MODEL)
    assert job.site_fields["creator_id"] == tars.developer_id
    assert data(client.get(f"/api/marketplace/runs/{run_id}"))["inputPayload"] == {
        "prompt": "a fox",
        "negative_prompt": "dark",
    }
    data(client.post(f"/api/marketplace/runs/{run_id}/cancel"))


def test_inputs_the_schema_or_firestore_refuse_are_err_2001_naming_the_field(stack) -> None:
    tars = published_model(price_credits=1, runpod_endpoint_id=IDLE_MODEL)
    account_id, client = consumer(market_api(stack), credits=1)
    path = f"/api/marketplace/models/{tars.slug}/run"
    cases = [
        ({"inputs": {}}, "ERR_2001", "prompt"),
        ({"inputs": {**PROMPT, "width": 300}}, "ERR_2001", "width"),
        ({"inputs": {**PROMPT, "style": "noir"}}, "ERR_2001", "style"),
        ({"inputs": {**PROMPT, "__name__": 1}}, "ERR_2001", "__name__"),
        ({"inputs": {"prompt": [[1, 2]]}}, "ERR_2001", "prompt.0"),
        ({"inputs": {**PROMPT, "seed": 2**70}}, "ERR_2001", "seed"),
        ({"inputs": ["a"]}, "ERR_2001", "inputs"),
        ({"inputs": PROMPT, "extra": True}, "ERR_2001", "extra"),
        ({}, "ERR_2004", "inputs"),
    ]
    for body, code, field in cases:
        response = client.post(path, json=body)
        assert (response.status_code, error_code(response)) == (400, code), body
        fields = [f["field"] for f in response.json()["error"]["details"]["fields"]]
        assert field in fields, (body, fields)
    assert ledger_entries(account_id, ledger.EntryKind.HOLD) == []
    assert data(client.get("/api/marketplace/runs")) == []


def test_run_history_is_newest_first_filtered_and_paged(stack) -> None:
    api = market_api(stack)
    tars = published_model(price_credits=1, runpod_endpoint_id=IDLE_MODEL)
    _, client = consumer(api, credits=3)
    first, second, third = (run(client, tars.slug, {"prompt": f"p{n}"}) for n in range(3))
    data(client.post(f"/api/marketplace/runs/{second}/cancel"))

    response = client.get("/api/marketplace/runs")
    body = response.json()
    assert [item["id"] for item in body["data"]] == [third, second, first]
    assert body["meta"] == {"page": 1, "limit": 20, "total": 3, "totalPages": 1}
    item = body["data"][1]
    assert item["status"] == "CANCELLED" and ISO.match(item["completedAt"])
    assert item["tarsModel"] == {"id": tars.id, "title": tars.title, "slug": tars.slug}
    assert set(item) == {"id", "status", "tarsModel", "createdAt", "completedAt", "executionTimeMs"}

    cancelled = client.get("/api/marketplace/runs?status=CANCELLED").json()
    assert [i["id"] for i in cancelled["data"]] == [second] and cancelled["meta"]["total"] == 1
    assert data(client.get("/api/marketplace/runs?status=COMPLETED")) == []
    paged = client.get("/api/marketplace/runs?page=2&limit=2").json()
    assert [i["id"] for i in paged["data"]] == [first]
    assert paged["meta"] == {"page": 2, "limit": 2, "total": 3, "totalPages": 2}
    for bad in ("status=DONE", "status=cancelled", "limit=101", "limit=0", "page=0", "page=x"):
        response = client.get(f"/api/marketplace/runs?{bad}")
        assert (response.status_code, error_code(response)) == (400, "ERR_2002"), bad

    _, stranger = consumer(api)
    assert stranger.get("/api/marketplace/runs").json()["meta"]["total"] == 0
    for run_id in (first, third):
        data(client.post(f"/api/marketplace/runs/{run_id}/cancel"))


def test_path_and_query_mistakes_have_their_codes(stack) -> None:
    tars = published_model(price_credits=1, runpod_endpoint_id=IDLE_MODEL)
    _, client = consumer(market_api(stack), credits=1)
    run_id = run(client, tars.slug, PROMPT)
    for method, path in (
        ("GET", "/api/marketplace/runs/not-a-uuid"),
        ("GET", "/api/marketplace/runs/not-a-uuid/status"),
        ("POST", "/api/marketplace/runs/not-a-uuid/cancel"),
        ("POST", "/api/marketplace/models/Bad_Slug/run"),
    ):
        response = client.request(method, path, json={"inputs": PROMPT})
        assert (response.status_code, error_code(response)) == (400, "ERR_2003"), path
    for sync in ("yes", "1", "TRUE", ""):
        response = client.get(f"/api/marketplace/runs/{run_id}/status?sync={sync}")
        assert (response.status_code, error_code(response)) == (400, "ERR_2002"), sync
    data(client.post(f"/api/marketplace/runs/{run_id}/cancel"))


def test_callers_must_sign_in_and_a_firebase_consumer_can_run(stack) -> None:
    api = market_api(stack)
    tars = published_model(price_credits=0, runpod_endpoint_id=IDLE_MODEL)
    anonymous = Client(api)
    for method, path in (
        ("POST", f"/api/marketplace/models/{tars.slug}/run"),
        ("GET", "/api/marketplace/runs"),
        ("GET", f"/api/marketplace/runs/{uuid.uuid4()}"),
    ):
        response = anonymous.request(method, path, json={"inputs": PROMPT})
        assert (response.status_code, error_code(response)) == (401, "ERR_1001"), path
    _, token = id_token()
    signed_in = Client(api, token)
    run_id = run(signed_in, tars.slug, PROMPT)  # a free model: nothing to hold
    assert jobs.get(run_id).price_micros == 0
    assert [i["id"] for i in data(signed_in.get("/api/marketplace/runs"))] == [run_id]
    data(signed_in.post(f"/api/marketplace/runs/{run_id}/cancel"))


def test_a_backend_that_cannot_be_asked_is_503_or_504_and_the_run_stays(stack) -> None:
    tars = published_model(price_credits=1, runpod_endpoint_id=IDLE_MODEL)
    account_id, client = consumer(market_api(stack), credits=1)
    run_id = run(client, tars.slug, PROMPT)
    wait_dispatched(run_id)
    with faults(stack, status="error"):
        sync = client.get(f"/api/marketplace/runs/{run_id}/status?sync=true")
        assert (sync.status_code, error_code(sync)) == (503, "ERR_5002")
        cancel = client.post(f"/api/marketplace/runs/{run_id}/cancel")
        assert (cancel.status_code, error_code(cancel)) == (503, "ERR_5002")
    assert jobs.get(run_id).state is JobState.QUEUED
    assert ledger.balance(account_id).held_micros == 10_000
    with faults(stack, status="hang", hang_s=15):
        slow = client.get(f"/api/marketplace/runs/{run_id}/status?sync=true")
        assert (slow.status_code, error_code(slow)) == (504, "ERR_5003")
    assert jobs.get(run_id).state is JobState.QUEUED
    assert data(client.post(f"/api/marketplace/runs/{run_id}/cancel"))["status"] == "CANCELLED"
    assert ledger.balance(account_id).held_micros == 0
