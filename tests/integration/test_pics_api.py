"""PicShapes end to end, as a client sees it, and its input validation."""

from __future__ import annotations

import io
import uuid

import httpx
import pytest
from PIL import Image

from shared.engine import audit, identity, ledger
from shared.engine.store import JOBS, db
from tests.helpers import auth, new_account, poll_job, site_url


@pytest.mark.parametrize(
    ("model", "tier", "price"), [("z-image-turbo", "pro", 3), ("flux-schnell", "basic", 1)]
)
def test_job_runs_to_a_png_of_the_requested_size_and_costs_its_tier(
    stack, model, tier, price
) -> None:
    account_id, key = new_account(credits=10)
    base = site_url(stack, "pics")
    created = httpx.post(
        f"{base}/api/v1/jobs",
        headers=auth(key),
        timeout=30,
        json={
            "prompt": "a red bicycle",
            "model": model,
            "tier": tier,
            "width": 96,
            "height": 80,
            "seed": 7,
        },
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "pending" and job["seed"] == 7 and job["tier"] == tier
    assert job["steps"] == {"z-image-turbo": 8, "flux-schnell": 4}[model]
    assert (
        httpx.get(f"{base}/api/v1/users/me/credits", headers=auth(key)).json()["credits"]
        == 10 - price
    )
    done = poll_job(base, job["id"], until={"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["completed_at"] and done["created_at"]
    result = httpx.get(f"{base}/api/v1/jobs/{job['id']}/result").json()
    png = httpx.get(result["result_url"], timeout=30)
    assert png.status_code == 200
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG" and image.size == (96, 80)
    money = ledger.balance(account_id)
    assert (money.balance_micros, money.held_micros) == ((10 - price) * 10_000, 0)
    assert audit.check(account_id)["ok"]


def test_result_is_202_until_the_job_completes(stack) -> None:
    _, key = new_account(credits=1)
    base = site_url(stack, "pics")
    job = httpx.post(
        f"{base}/api/v1/jobs", headers=auth(key), json={"prompt": "x", "width": 64, "height": 64}
    ).json()
    first = httpx.get(f"{base}/api/v1/jobs/{job['id']}/result")
    if first.status_code == 202:  # the tiny model may already be done; both are valid here
        assert first.json()["message"] == "Job is not completed yet"
    poll_job(base, job["id"], until={"completed"})
    assert httpx.get(f"{base}/api/v1/jobs/{job['id']}/result").status_code == 200


def test_profile_and_credits(stack) -> None:
    account_id, key = new_account(credits=12)
    base = site_url(stack, "pics")
    me = httpx.get(f"{base}/api/v1/users/me", headers=auth(key)).json()
    assert me["id"] == account_id and me["credits"] == 12 and me["role"] == "user"
    assert httpx.get(f"{base}/api/v1/users/me/credits", headers=auth(key)).json() == {
        "credits": 12,
        "user_id": account_id,
    }


def test_tiers_and_models_are_public(stack) -> None:
    base = site_url(stack, "pics")
    tiers = httpx.get(f"{base}/api/v1/tiers").json()["tiers"]
    assert {t: tiers[t]["credits"] for t in tiers} == {"basic": 1, "pro": 3, "premium": 5}
    models = httpx.get(f"{base}/api/v1/models").json()
    assert models["default_model"] == "z-image-turbo"
    flux = models["models"]["flux-schnell"]
    assert flux["optimal_steps"] == 4 and flux["tier_configs"]["pro"]["max_width"] == 1280
    # One live local worker per model, seen through the RunPod health endpoint.
    assert flux["available"] is True and flux["worker_count"] == 1


BAD_REQUESTS = [
    ({"tier": "basic"}, 400, "INVALID_REQUEST"),
    ({"prompt": "x", "tier": "ultra"}, 400, "INVALID_TIER"),
    ({"prompt": "x", "model": "sdxl"}, 400, "INVALID_MODEL"),
    ({"prompt": "x", "tier": "basic", "width": 1025}, 400, "TIER_LIMIT_EXCEEDED"),
    (
        {"prompt": "x", "model": "flux-schnell", "tier": "pro", "height": 1440},
        400,
        "TIER_LIMIT_EXCEEDED",
    ),
    ({"prompt": "x", "width": 0}, 400, "INVALID_REQUEST"),
    ({"prompt": "x", "width": "512"}, 400, "INVALID_REQUEST"),
    ({"prompt": "x", "seed": -1}, 400, "INVALID_REQUEST"),
    ({"prompt": 5}, 400, "INVALID_REQUEST"),
    ({"prompt": "   "}, 400, "INVALID_REQUEST"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_REQUESTS)
def test_bad_job_requests_get_documented_errors_and_change_nothing(
    stack, body, status, code
) -> None:
    account_id, key = new_account(credits=5)
    response = httpx.post(f"{site_url(stack, 'pics')}/api/v1/jobs", json=body, headers=auth(key))
    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["error"]
    _assert_untouched(account_id, 5)


def _assert_untouched(account_id: str, credits: int) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    assert ledger.balance(account_id).available_micros == credits * 10_000
    assert [e["kind"] for e in ledger.entries(account_id)] == ["grant"]
    jobs = db().collection(JOBS).where(filter=FieldFilter("account_id", "==", account_id))
    assert list(jobs.stream()) == []


def test_malformed_json_and_non_object_bodies_are_400(stack) -> None:
    account_id, key = new_account(credits=5)
    url = f"{site_url(stack, 'pics')}/api/v1/jobs"
    for raw in (b"{not json", b"[1,2]", b""):
        response = httpx.post(
            url, content=raw, headers={**auth(key), "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "INVALID_REQUEST"
    _assert_untouched(account_id, 5)


@pytest.mark.parametrize("header", [None, "Bearer uk_not-a-real-key", "Basic abc", "Bearer"])
def test_missing_or_wrong_key_is_401(stack, header) -> None:
    account_id, _ = new_account(credits=5)
    headers = {"Authorization": header} if header else {}
    base = site_url(stack, "pics")
    response = httpx.post(f"{base}/api/v1/jobs", json={"prompt": "x"}, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED"
    assert httpx.get(f"{base}/api/v1/users/me", headers=headers).status_code == 401
    _assert_untouched(account_id, 5)


def test_revoked_key_is_refused_on_the_next_request(stack) -> None:
    account_id, key = new_account(credits=1)
    base = site_url(stack, "pics")
    assert httpx.get(f"{base}/api/v1/users/me", headers=auth(key)).status_code == 200
    identity.revoke_api_key(key_hash=identity.hash_key(key), account_id=account_id)
    assert httpx.get(f"{base}/api/v1/users/me", headers=auth(key)).status_code == 401


def test_a_key_minted_on_another_site_works_here(stack) -> None:
    account_id, _ = new_account(credits=1)
    grid_key = identity.create_api_key(account_id=account_id, site=identity.Site.GRID)
    assert grid_key.startswith("vk_live_")
    me = httpx.get(f"{site_url(stack, 'pics')}/api/v1/users/me", headers=auth(grid_key))
    assert me.status_code == 200 and me.json()["id"] == account_id


@pytest.mark.parametrize("job_id", ["not-a-uuid", str(uuid.uuid4())])
def test_unknown_or_malformed_job_id_is_404(stack, job_id) -> None:
    base = site_url(stack, "pics")
    for path in (f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{job_id}/result"):
        response = httpx.get(base + path)
        assert response.status_code == 404 and response.json()["code"] == "JOB_NOT_FOUND"


def test_sixty_first_request_in_a_minute_is_429_with_retry_after(stack) -> None:
    import time

    _, key = new_account()
    url = f"{site_url(stack, 'pics')}/api/v1/users/me/credits"
    started_minute = int(time.time()) // 60
    allowed = 0
    for _ in range(125):
        response = httpx.get(url, headers=auth(key))
        if response.status_code != 200:
            break
        allowed += 1
    crossed_a_window = int(time.time()) // 60 != started_minute
    assert allowed == 60 or (crossed_a_window and 60 < allowed <= 120)
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "RATE_LIMIT_EXCEEDED" and 1 <= body["retry_after"] <= 60
    assert response.headers["Retry-After"] == str(body["retry_after"])


@pytest.mark.parametrize("path", ["/api/v1/jobs/%C3%89%0A", "/api/v1/users/me%0A"])
def test_paths_the_router_cannot_match_still_get_a_json_404(stack, path) -> None:
    response = httpx.get(site_url(stack, "pics") + path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] in {"NOT_FOUND", "JOB_NOT_FOUND"}
