"""Vibe Earning through the gateway: a client, a worker, and the money between them."""

from __future__ import annotations

import uuid

import pytest

from shared.engine import audit, ledger
from tests.integration.grid_client import Api, earned_micros, grid_key


@pytest.fixture
def worker(stack):
    account_id, key = grid_key()
    api = Api(stack, key)
    model = f"m{uuid.uuid4().hex[:6]}:7b"
    registered = api.post(
        "/worker/register",
        json={"name": "test-rig", "models": [{"name": model, "serves_family": True}]},
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["worker_token"] == key
    return api, account_id, model


def test_account_without_credit_submits_and_its_worker_earns_output_tokens_over_1000(
    stack, worker
) -> None:
    wapi, worker_account, model = worker
    client_account, key = grid_key()  # no credit: the free tier costs nothing
    client = Api(stack, key)
    created = client.post("/jobs", json={"model": model, "prompt": "hello", "tag": "t1"})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "pending" and job["model_match"] == "family"
    assert job["timeout_seconds"] == 600 and job["output"] is None
    got = wapi.get("/worker/jobs/next", params={"models[]": [model]})
    assert got.status_code == 200, got.text
    assignment = got.json()
    assert assignment["job_id"] == job["job_id"] and assignment["prompt"] == "hello"
    assert client.get(f"/jobs/{job['job_id']}").json()["status"] == "claimed"
    assert wapi.patch(f"/worker/jobs/{job['job_id']}/start").json() == {"status": "running"}
    output = "hi there " * 60  # 540 bytes: room for 500 tokens
    result = wapi.post(
        f"/worker/jobs/{job['job_id']}/result",
        json={"output": output, "input_tokens": 3, "output_tokens": 500, "duration_ms": 42},
    )
    assert result.json() == {"status": "accepted"}
    again = wapi.post(
        f"/worker/jobs/{job['job_id']}/result",
        json={"output": "again", "output_tokens": 500, "duration_ms": 1},
    )
    assert again.status_code == 422
    done = client.get(f"/jobs/{job['job_id']}").json()
    assert (done["status"], done["output"], done["output_tokens"]) == ("completed", output, 500)
    # The client pays nothing; the platform pays the worker output_tokens/1000 credits.
    assert ledger.entries(client_account) == []
    assert earned_micros(worker_account) == 500 * 10
    assert ledger.balance(worker_account).balance_micros == 0  # prepaid money untouched
    [earning] = ledger.entries(ledger.earnings_account(worker_account))
    [expense] = [
        e
        for e in ledger.entries(ledger.PLATFORM_ACCOUNT)
        if e["kind"] == ledger.EntryKind.EXPENSE and e["job_id"] == earning["job_id"]
    ]
    assert (earning["kind"], earning["ref"]) == (ledger.EntryKind.EARNING, expense["ref"])
    assert expense["balance_delta_micros"] == -earning["balance_delta_micros"] == -5_000
    assert not [
        e
        for e in ledger.entries(ledger.PLATFORM_ACCOUNT)
        if e["kind"] == "revenue" and e["job_id"] == earning["job_id"]
    ]
    credits = wapi.get("/worker/credits").json()
    assert credits["balance"] == 0.5 and credits["total_earned"] == 0.5
    assert credits["history"][0]["output_tokens"] == 500
    for account in (client_account, worker_account, ledger.earnings_account(worker_account)):
        assert audit.check(account)["ok"], audit.check(account)
    usage = client.get("/usage", params={"tag": "t1"}).json()
    assert usage["tokens_used"] == 503 and usage["requests_used"] == 1
    payout = wapi.post("/worker/payout_request")
    assert payout.status_code == 201 and payout.json()["amount_credits"] == 0.5
    assert wapi.post("/worker/payout_request").status_code == 422
    assert wapi.get("/worker/credits").json()["balance"] == 0.0
    assert wapi.get("/worker/credits").json()["history"][0]["paid_out"] is True
    assert earned_micros(worker_account) == 0
    assert audit.check(ledger.earnings_account(worker_account))["ok"]


def test_nothing_to_do_is_204(stack, worker) -> None:
    wapi, _, _ = worker
    assert wapi.get("/worker/jobs/next", params={"models[]": ["nobody:1b"]}).status_code == 204


def test_cancel_priority_and_bad_states(stack) -> None:
    account_id, key = grid_key()
    client = Api(stack, key)
    job = client.post("/jobs", json={"model": "nobody-serves:1b", "prompt": "x"}).json()
    assert client.patch(f"/jobs/{job['job_id']}/priority", json={"priority": 7}).json() == {
        "priority": 7
    }
    assert client.patch(f"/jobs/{job['job_id']}/priority", json={"priority": 0}).status_code == 422
    assert client.delete(f"/jobs/{job['job_id']}").json() == {"status": "cancelled"}
    assert client.delete(f"/jobs/{job['job_id']}").status_code == 422
    assert client.post(f"/jobs/{job['job_id']}/retry").status_code == 422
    assert ledger.entries(account_id) == []
    listed = client.get("/jobs", params={"status": "cancelled"}).json()
    assert [j["job_id"] for j in listed] == [job["job_id"]]
    assert audit.check(account_id)["ok"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "x", "model_match": "nearest"}, "model_match"),
        ({"prompt": "x", "timeout_seconds": 0}, "timeout_seconds"),
        ({"prompt": "x", "priority": "high"}, "priority"),
    ],
)
def test_invalid_submissions_are_422_with_errors_and_change_nothing(stack, body, fragment) -> None:
    account_id, key = grid_key(credits=10)
    response = Api(stack, key).post("/jobs", json=body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors and fragment in errors[0]
    assert [e["kind"] for e in ledger.entries(account_id)] == ["grant"]


def test_auth_and_ids(stack) -> None:
    api = Api(stack, "vk_live_nope")
    assert api.get("/jobs").status_code == 401
    assert api.get("/jobs").json() == {"error": "unauthorized"}
    _, key = grid_key()
    client = Api(stack, key)
    assert client.get("/jobs/abc").status_code == 404
    assert client.get("/jobs/12345").json() == {"error": "not_found"}
    # A plain (unbound) key is not a worker.
    assert client.get("/worker/credits").status_code == 401


def test_jobs_no_worker_can_serve_never_block_the_queue(stack, worker) -> None:
    wapi, _, model = worker
    _, key = grid_key()
    client = Api(stack, key)
    for _ in range(40):  # more than a poll reads, all older and more urgent
        assert (
            client.post(
                "/jobs",
                json={
                    "model": "unserved:70b",
                    "model_match": "exact",
                    "prompt": "x",
                    "priority": 999,
                },
            ).status_code
            == 201
        )
    mine = client.post("/jobs", json={"model": model, "model_match": "exact", "prompt": "y"})
    got = wapi.get("/worker/jobs/next", params={"models[]": [model]})
    assert got.status_code == 200 and got.json()["job_id"] == mine.json()["job_id"]
