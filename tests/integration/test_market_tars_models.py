"""Tarsify studio tars models as a developer uses them: create, list, read, update, delete,
publish and archive, with every documented refusal (and nothing written on one)."""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.engine import store
from shared.market import records, tars_models
from tests.integration.market_tars import (
    TARS,
    create_model,
    developer,
    publish,
    set_active,
    slug,
    slug_claim,
    stored_models,
)
from tests.market_helpers import Client, data, error_code, id_token, market_api, seed_base_model

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def api(stack: Any) -> str:
    return market_api(stack)


def test_create_answers_the_documented_draft_with_its_base_model_and_price(api) -> None:
    dev, account_id = developer(api)
    _, base_id = seed_base_model(price_credits=12, max_price_credits=40)
    wanted = slug("anime")
    response = dev.post(
        TARS,
        json={
            "title": "Anime Art Generator",
            "slug": wanted,
            "description": "Generate anime-style artwork",
            "baseModelId": base_id,
            "configOverrides": {"negative_prompt": "blurry", "width": 512},
        },
    )
    model = data(response, 201)
    assert response.headers["X-RateLimit-Limit"]
    uuid.UUID(model["id"])
    assert model["title"] == "Anime Art Generator" and model["slug"] == wanted
    assert model["description"] == "Generate anime-style artwork"
    assert model["status"] == "DRAFT" and model["publishedAt"] is None
    assert model["configOverrides"] == {"negative_prompt": "blurry", "width": 512}
    assert model["priceCredits"] == 12  # unset: the base model's price
    base = model["baseModel"]
    assert base["id"] == base_id and base["category"] == "IMAGE" and base["outputType"] == "IMAGE"
    assert set(base) == {"id", "slug", "name", "category", "outputType"}
    assert ISO.match(model["createdAt"]) and ISO.match(model["updatedAt"])
    [stored] = stored_models(wanted)
    assert stored["developer_id"] == account_id
    assert slug_claim(wanted) == {"id": model["id"]}


def test_unregistered_developer_is_err_1004_and_no_token_is_err_1001(api) -> None:
    _, base_id = seed_base_model()
    _, token = id_token()
    stranger = Client(api, token)
    wanted = slug()
    body = {"title": "No profile", "slug": wanted, "baseModelId": base_id}
    assert error_code(stranger.post(TARS, json=body)) == "ERR_1004"
    assert error_code(stranger.get(TARS)) == "ERR_1004"
    anonymous = Client(api)
    response = anonymous.post(TARS, json=body)
    assert response.status_code == 401 and error_code(response) == "ERR_1001"
    assert stored_models(wanted) == [] and slug_claim(wanted) is None


def test_taken_slug_is_err_5503_and_racing_creates_make_one_model(api) -> None:
    dev, _ = developer(api)
    other, _ = developer(api)
    _, base_id = seed_base_model()
    taken = create_model(dev, base_id)["slug"]
    response = other.post(TARS, json={"title": "Copy", "slug": taken, "baseModelId": base_id})
    assert response.status_code == 409 and error_code(response) == "ERR_5503"

    racing = slug("race")
    body = {"title": "Racing", "slug": racing, "baseModelId": base_id}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: dev.post(TARS, json=body), range(6)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * 5, [r.text for r in answers]
    assert {error_code(r) for r in answers if r.status_code == 409} == {"ERR_5503"}
    [winner] = [r.json()["data"] for r in answers if r.status_code == 201]
    assert len(stored_models(racing)) == 1
    assert slug_claim(racing) == {"id": winner["id"]}


def test_missing_base_model_is_err_5508_and_inactive_one_is_err_5509(api) -> None:
    dev, _ = developer(api)
    missing = str(uuid.uuid4())
    wanted = slug()
    response = dev.post(TARS, json={"title": "Nothing", "slug": wanted, "baseModelId": missing})
    assert response.status_code == 404 and error_code(response) == "ERR_5508"
    _, inactive = seed_base_model(model_active=False)
    response = dev.post(TARS, json={"title": "Paused", "slug": wanted, "baseModelId": inactive})
    assert response.status_code == 400 and error_code(response) == "ERR_5509"
    assert stored_models(wanted) == [] and slug_claim(wanted) is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"style": "anime"}, "configOverrides.style"),  # not an input of the base model
        ({"width": 300}, "configOverrides.width"),  # outside the property's enum
        ({"seed": "seven"}, "configOverrides.seed"),  # wrong type
        ({"prompt": ""}, "configOverrides.prompt"),  # under minLength
        ({"model": "another-model"}, "configOverrides.model"),  # fixed input: not the consumer's
    ],
)
def test_invalid_config_overrides_are_err_2001_naming_the_field_and_write_nothing(
    api, overrides, field
) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    wanted = slug()
    response = dev.post(
        TARS,
        json={"title": "Bad", "slug": wanted, "baseModelId": base_id, "configOverrides": overrides},
    )
    assert response.status_code == 400 and error_code(response) == "ERR_2001"
    fields = [f["field"] for f in response.json()["error"]["details"]["fields"]]
    assert field in fields
    assert stored_models(wanted) == [] and slug_claim(wanted) is None


def test_overrides_are_partial_inputs_without_the_required_fields(api) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    model = create_model(dev, base_id, configOverrides={"width": 256, "seed": 7})
    assert model["configOverrides"] == {"width": 256, "seed": 7}


def test_price_outside_the_base_models_bounds_is_err_2001(api) -> None:
    dev, _ = developer(api)
    _, ranged = seed_base_model(price_credits=10, max_price_credits=30)
    _, fixed = seed_base_model(price_credits=10)
    for base_id, price in ((ranged, 9), (ranged, 31), (fixed, 11), (ranged, -1)):
        wanted = slug()
        body = {"title": "Priced", "slug": wanted, "baseModelId": base_id, "priceCredits": price}
        response = dev.post(TARS, json=body)
        assert error_code(response) == "ERR_2001", (price, response.text)
        assert stored_models(wanted) == []
    assert create_model(dev, ranged, priceCredits=30)["priceCredits"] == 30
    assert create_model(dev, fixed, priceCredits=10)["priceCredits"] == 10


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"slug": "Not A Slug"}, "ERR_2001"),
        ({"slug": "ab"}, "ERR_2001"),
        ({"slug": "double--hyphen"}, "ERR_2001"),
        ({"title": "ab"}, "ERR_2001"),
        ({"title": "x" * 101}, "ERR_2001"),
        ({"baseModelId": "not-a-uuid"}, "ERR_2001"),
        ({"priceCredits": "10"}, "ERR_2001"),
        ({"configOverrides": ["width"]}, "ERR_2001"),
        ({"unknownField": 1}, "ERR_2001"),
        ({"title": None}, "ERR_2001"),
        ({"title": "   ab   "}, "ERR_2001"),  # 2 characters once trimmed
        ({"title": "lone \ud800 surrogate"}, "ERR_2001"),  # not storable as UTF-8
        ({"description": "lone \udfff surrogate"}, "ERR_2001"),
        ({"configOverrides": {"__x__": 1}}, "ERR_2001"),
    ],
)
def test_bad_create_bodies_are_refused_with_the_documented_code(api, change, code) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    body = {"title": "Fine title", "slug": slug(), "baseModelId": base_id, **change}
    # json.dumps escapes lone surrogates as `\udxxx`, legal JSON text (httpx's encoder fails).
    raw = json.dumps(body)
    response = dev.post(TARS, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_code(response) == code, response.text


def test_missing_required_field_is_err_2004(api) -> None:
    dev, _ = developer(api)
    response = dev.post(TARS, json={"title": "No base", "slug": slug()})
    assert response.status_code == 400 and error_code(response) == "ERR_2004"


def test_list_shows_own_models_newest_first_by_page_and_status(api) -> None:
    dev, _ = developer(api)
    other, _ = developer(api)
    _, base_id = seed_base_model()
    made = [create_model(dev, base_id, title=f"Model number {i}") for i in range(3)]
    create_model(other, base_id)
    publish(dev, made[0]["id"])

    first = dev.get(TARS, params={"limit": 2})
    assert [m["id"] for m in data(first)] == [made[2]["id"], made[1]["id"]]
    assert first.json()["meta"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2, "pages": 2}
    second = dev.get(TARS, params={"limit": 2, "page": 2})
    assert [m["id"] for m in data(second)] == [made[0]["id"]]
    item = data(second)[0]
    assert item["status"] == "PUBLISHED" and item["baseModel"]["id"] == base_id
    published = dev.get(TARS, params={"status": "PUBLISHED"})
    assert [m["id"] for m in data(published)] == [made[0]["id"]]
    assert published.json()["meta"]["total"] == 1
    assert data(dev.get(TARS, params={"status": "ARCHIVED"})) == []


@pytest.mark.parametrize(
    "params",
    [{"status": "LIVE"}, {"limit": 0}, {"limit": 101}, {"page": 0}, {"page": "abc"}],
)
def test_bad_list_queries_are_err_2002(api, params) -> None:
    dev, _ = developer(api)
    response = dev.get(TARS, params=params)
    assert response.status_code == 400 and error_code(response) == "ERR_2002"


def test_another_developers_model_is_err_5500_for_every_route_and_stays_unchanged(api) -> None:
    owner, _ = developer(api)
    intruder, _ = developer(api)
    _, base_id = seed_base_model()
    model = create_model(owner, base_id)
    path = f"{TARS}/{model['id']}"
    answers = [
        intruder.get(path),
        intruder.put(path, json={"title": "Hijacked"}),
        intruder.delete(path),
        intruder.post(f"{path}/publish"),
        intruder.post(f"{path}/archive"),
    ]
    assert [(r.status_code, error_code(r)) for r in answers] == [(404, "ERR_5500")] * 5
    assert all(model["id"] not in r.text for r in answers)
    after = data(owner.get(path))
    assert after["title"] == model["title"] and after["status"] == "DRAFT"
    unknown = owner.get(f"{TARS}/{uuid.uuid4()}")
    assert unknown.status_code == 404 and error_code(unknown) == "ERR_5500"
    for route in (owner.get, owner.delete):
        response = route(f"{TARS}/not-a-uuid")
        assert response.status_code == 400 and error_code(response) == "ERR_2003"
    response = owner.post(f"{TARS}/not-a-uuid/publish")
    assert error_code(response) == "ERR_2003"


def test_update_changes_what_is_sent_and_moves_the_slug_claim(api) -> None:
    dev, _ = developer(api)
    other, _ = developer(api)
    _, base_id = seed_base_model(price_credits=10, max_price_credits=20)
    model = create_model(dev, base_id, description="Old", priceCredits=15)
    path = f"{TARS}/{model['id']}"
    new_slug = slug("renamed")
    updated = data(
        dev.put(
            path,
            json={
                "title": "Updated Title",
                "slug": new_slug,
                "configOverrides": {"width": 512},
                "priceCredits": 20,
            },
        )
    )
    assert updated["title"] == "Updated Title" and updated["slug"] == new_slug
    assert updated["description"] == "Old"  # not sent: unchanged
    assert updated["configOverrides"] == {"width": 512} and updated["priceCredits"] == 20
    assert slug_claim(new_slug) == {"id": model["id"]} and slug_claim(model["slug"]) is None
    # The released slug is free again; a taken one is ERR_5503 and changes nothing.
    create_model(other, base_id, slug=model["slug"])
    taken = dev.put(path, json={"slug": model["slug"], "title": "Should not land"})
    assert taken.status_code == 409 and error_code(taken) == "ERR_5503"
    cleared = data(dev.put(path, json={"description": None, "priceCredits": None}))
    assert cleared["description"] is None and cleared["priceCredits"] == 10
    assert cleared["title"] == "Updated Title" and cleared["slug"] == new_slug

    for bad in ({"configOverrides": {"width": 999}}, {"priceCredits": 21}, {"slug": None}):
        response = dev.put(path, json=bad)
        assert response.status_code == 400 and error_code(response) == "ERR_2001", bad
    assert data(dev.get(path))["configOverrides"] == {"width": 512}


def test_status_moves_only_draft_published_archived_and_delete_needs_unpublished(api) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    model = create_model(dev, base_id)
    path = f"{TARS}/{model['id']}"

    def refused(response: Any) -> bool:
        return response.status_code == 400 and error_code(response) == "ERR_5504"

    assert refused(dev.post(f"{path}/archive"))  # DRAFT -> ARCHIVED
    published = publish(dev, model["id"])
    assert published["status"] == "PUBLISHED" and ISO.match(published["publishedAt"])
    assert data(dev.get(path))["publishedAt"] == published["publishedAt"]
    assert refused(dev.post(f"{path}/publish"))  # already published
    assert refused(dev.delete(path))  # archive first
    archived = data(dev.post(f"{path}/archive"))
    assert archived["status"] == "ARCHIVED" and archived["publishedAt"] == published["publishedAt"]
    assert refused(dev.post(f"{path}/archive"))  # already archived
    assert refused(dev.post(f"{path}/publish"))  # ARCHIVED is final
    deleted = dev.delete(path)
    assert deleted.status_code == 204 and deleted.content == b""
    assert error_code(dev.get(path)) == "ERR_5500"
    assert stored_models(model["slug"]) == [] and slug_claim(model["slug"]) is None


def test_deleting_a_draft_releases_its_slug(api) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    model = create_model(dev, base_id)
    assert dev.delete(f"{TARS}/{model['id']}").status_code == 204
    again = create_model(dev, base_id, slug=model["slug"])
    assert again["id"] != model["id"]


def test_publishing_needs_an_active_base_model_and_endpoint(api) -> None:
    dev, _ = developer(api)
    endpoint_id, base_id = seed_base_model()
    model = create_model(dev, base_id)
    path = f"{TARS}/{model['id']}/publish"
    set_active(records.BASE_MODELS, base_id, active=False)
    assert error_code(dev.post(path)) == "ERR_5509"
    set_active(records.BASE_MODELS, base_id, active=True)
    set_active(records.ENDPOINTS, endpoint_id, active=False)
    assert error_code(dev.post(path)) == "ERR_5502"
    assert data(dev.get(f"{TARS}/{model['id']}"))["status"] == "DRAFT"
    set_active(records.ENDPOINTS, endpoint_id, active=True)
    assert publish(dev, model["id"])["status"] == "PUBLISHED"


def test_racing_publishes_give_one_success_and_the_rest_err_5504(api) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    model = create_model(dev, base_id)
    path = f"{TARS}/{model['id']}/publish"
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: dev.post(path), range(5)))
    assert sorted(r.status_code for r in answers) == [200, 400, 400, 400, 400]
    assert {error_code(r) for r in answers if r.status_code == 400} == {"ERR_5504"}
    [winner] = [r.json()["data"] for r in answers if r.status_code == 200]
    assert data(dev.get(f"{TARS}/{model['id']}"))["publishedAt"] == winner["publishedAt"]


def test_a_create_or_publish_whose_reply_was_lost_is_recognised_as_landed(api) -> None:
    # The client library retries a commit whose response was lost; the retry conflicts
    # with the write that landed. The service must see its own write, not a taken slug.
    dev, account_id = developer(api)
    _, base_id = seed_base_model()
    wanted = slug("lost")
    request = tars_models.TarsCreate.model_validate(
        {"title": "Lost reply", "slug": wanted, "baseModelId": base_id}
    )
    with store.lose_commit_responses("market.tars.create"):
        created = tars_models.create(account_id=account_id, request=request)
    assert created.record.slug == wanted and len(stored_models(wanted)) == 1
    with store.lose_commit_responses("market.tars.move"):
        moved = tars_models.move(
            account_id=account_id, model_id=created.record.id, to=records.TarsStatus.PUBLISHED
        )
    assert moved.record.status is records.TarsStatus.PUBLISHED
    assert data(dev.get(f"{TARS}/{created.record.id}"))["status"] == "PUBLISHED"
