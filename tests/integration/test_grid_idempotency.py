"""POST /jobs with an Idempotency-Key: a replay answers the first job, counts once.

Needs the engine's `jobs.submit` honouring JobCreate.idempotency_key with a key -> job id
record (the job id not derived from the key): on a branch without it these tests fail.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from shared.engine import clock
from shared.engine.store import db
from shared.grid import usage
from tests.integration.grid_client import Api, grid_key


def _requests_today(account_id: str) -> int:
    snap = db().collection(usage.USAGE).document(f"{account_id}_{clock.now():%Y-%m-%d}").get()
    return int((snap.to_dict() or {}).get("requests", 0))


def test_replayed_submit_returns_the_first_job_and_counts_once_against_the_quota(stack) -> None:
    account_id, key = grid_key()
    client = Api(stack, key)
    body = {"model": "nobody-idem:1b", "prompt": "once", "tag": "idem"}
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    first = client.post("/jobs", json=body, headers=headers)
    again = client.post("/jobs", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json()["job_id"] == first.json()["job_id"]
    assert client.get(f"/jobs/{first.json()['job_id']}").json() == again.json()
    assert [j["job_id"] for j in client.get("/jobs").json()] == [first.json()["job_id"]]
    assert _requests_today(account_id) == 1
    assert client.get("/usage", params={"tag": "idem"}).json()["requests_used"] == 1


def test_concurrent_replays_make_one_job(stack) -> None:
    account_id, key = grid_key()
    client = Api(stack, key)
    body = {"model": "nobody-idem:1b", "prompt": "once"}
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda _: client.post("/jobs", json=body, headers=headers), range(6))
        )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert len(client.get("/jobs").json()) == 1
    assert _requests_today(account_id) == 1


def test_same_key_with_another_request_is_refused(stack) -> None:
    _, key = grid_key()
    client = Api(stack, key)
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    assert client.post("/jobs", json={"prompt": "a"}, headers=headers).status_code == 201
    reused = client.post("/jobs", json={"prompt": "b"}, headers=headers)
    assert reused.status_code == 422 and reused.json()["errors"]
    assert len(client.get("/jobs").json()) == 1


def test_blank_or_oversized_idempotency_key_is_422(stack) -> None:
    _, key = grid_key()
    client = Api(stack, key)
    for bad in ("", "k" * 256):
        response = client.post("/jobs", json={"prompt": "a"}, headers={"Idempotency-Key": bad})
        assert response.status_code == 422 and response.json()["errors"]
    assert client.get("/jobs").json() == []


def test_idempotency_key_outside_printable_ascii_is_422_and_counts_nothing(stack) -> None:
    """The grid applies the engine's one key rule, before the quota counts the request."""
    account_id, key = grid_key()
    client = Api(stack, key)
    for bad in ("caf\u00e9".encode(), b"tab\there"):  # bytes: sent as they are
        response = client.post("/jobs", json={"prompt": "a"}, headers={"Idempotency-Key": bad})
        assert response.status_code == 422, response.text
        assert "printable ASCII" in response.json()["errors"][0]
    assert client.get("/jobs").json() == []
    assert _requests_today(account_id) == 0
