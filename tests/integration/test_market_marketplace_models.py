"""The public marketplace as a consumer browses it: published tars models only, by category,
search and page, and a model's page by slug. No credentials needed anywhere here.

The marketplace is global within this module, so each test tags its models' titles with
its own word and searches for it: counts never see another test's models.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.market import records
from tests.integration.market_tars import TARS, create_model, developer, publish, set_active
from tests.market_helpers import IMAGE_SCHEMA, Client, data, error_code, market_api, seed_base_model

MODELS = "/api/marketplace/models"


@pytest.fixture
def api(stack: Any) -> str:
    return market_api(stack)


def word() -> str:
    return f"zq{uuid.uuid4().hex[:10]}"


def listed(api: str, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    response = Client(api).get(MODELS, params=params)
    return data(response), response.json()["meta"]


def test_lists_only_published_models_newest_first_in_the_documented_shape(api) -> None:
    dev, account_id = developer(api, name="John Doe")
    _, base_id = seed_base_model(price_credits=12, max_price_credits=20)
    tag = word()
    older = create_model(dev, base_id, title=f"Older {tag}", description="first one")
    newer = create_model(dev, base_id, title=f"Newer {tag}", priceCredits=20)
    create_model(dev, base_id, title=f"Draft {tag}")
    publish(dev, older["id"])
    publish(dev, newer["id"])

    response = Client(api).get(MODELS, params={"search": tag})
    items = data(response)
    assert response.headers["X-RateLimit-Limit"] == "100"  # the public window
    assert [m["id"] for m in items] == [newer["id"], older["id"]]
    assert response.json()["meta"] == {"page": 1, "limit": 20, "total": 2, "totalPages": 1}
    assert items[1] == {
        "id": older["id"],
        "title": f"Older {tag}",
        "slug": older["slug"],
        "description": "first one",
        "category": "IMAGE",
        "outputType": "IMAGE",
        "outputFormat": "png",
        "estimatedSeconds": 5,
        "priceCredits": 12,
        "developer": {"id": account_id, "name": "John Doe"},
    }
    assert items[0]["priceCredits"] == 20


def test_category_filters_on_the_base_models_category(api) -> None:
    dev, _ = developer(api)
    _, image_base = seed_base_model()
    _, audio_base = seed_base_model(category=records.Category.AUDIO)
    tag = word()
    image = create_model(dev, image_base, title=f"Picture {tag}")
    audio = create_model(dev, audio_base, title=f"Sound {tag}")
    publish(dev, image["id"])
    publish(dev, audio["id"])
    only_audio, meta = listed(api, search=tag, category="AUDIO")
    assert [m["id"] for m in only_audio] == [audio["id"]] and meta["total"] == 1
    assert only_audio[0]["category"] == "AUDIO"
    assert [m["id"] for m in listed(api, search=tag, category="IMAGE")[0]] == [image["id"]]
    assert listed(api, search=tag, category="VIDEO")[0] == []


def test_search_is_a_case_insensitive_match_on_title_or_description(api) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    tag = word()
    in_title = create_model(dev, base_id, title=f"Great {tag.upper()} maker")
    in_description = create_model(dev, base_id, title="Plain title", description=f"has {tag}")
    unrelated = create_model(dev, base_id, title="Something else entirely")
    for model in (in_title, in_description, unrelated):
        publish(dev, model["id"])
    found, meta = listed(api, search=tag.capitalize())
    assert {m["id"] for m in found} == {in_title["id"], in_description["id"]}
    assert meta["total"] == 2


def test_pages_cut_the_filtered_list(api) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    tag = word()
    made = [create_model(dev, base_id, title=f"Paged {i} {tag}") for i in range(3)]
    for model in made:
        publish(dev, model["id"])
    first, meta = listed(api, search=tag, limit=2)
    assert [m["id"] for m in first] == [made[2]["id"], made[1]["id"]]
    assert meta == {"page": 1, "limit": 2, "total": 3, "totalPages": 2}
    second, _ = listed(api, search=tag, limit=2, page=2)
    assert [m["id"] for m in second] == [made[0]["id"]]
    assert listed(api, search=tag, limit=2, page=3)[0] == []


@pytest.mark.parametrize(
    "params",
    [
        {"category": "PAINTING"},
        {"category": "image"},
        {"limit": 101},
        {"limit": 0},
        {"page": 0},
        {"page": "one"},
        {"search": "x" * 201},
    ],
)
def test_bad_list_queries_are_err_2002(api, params) -> None:
    response = Client(api).get(MODELS, params=params)
    assert response.status_code == 400 and error_code(response) == "ERR_2002"


def test_model_page_has_the_consumer_input_schema_never_the_fixed_input(api) -> None:
    dev, account_id = developer(api, name="Jane Roe")
    _, base_id = seed_base_model(price_credits=7, fixed_input={"model": "secret-handler-model"})
    model = create_model(dev, base_id, description="Detailed")
    publish(dev, model["id"])
    response = Client(api).get(f"{MODELS}/{model['slug']}")
    page = data(response)
    assert page["id"] == model["id"] and page["slug"] == model["slug"]
    assert page["inputSchema"] == IMAGE_SCHEMA
    assert page["priceCredits"] == 7 and page["estimatedSeconds"] == 5
    assert page["developer"] == {"id": account_id, "name": "Jane Roe"}
    assert page["category"] == "IMAGE" and page["outputFormat"] == "png"
    assert "secret-handler-model" not in response.text and "fixedInput" not in page


def test_unpublished_or_unknown_slug_is_err_5500_and_a_malformed_one_err_2003(api) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    draft = create_model(dev, base_id)
    for slug_value in (draft["slug"], f"nobody-{uuid.uuid4().hex[:8]}"):
        response = Client(api).get(f"{MODELS}/{slug_value}")
        assert response.status_code == 404 and error_code(response) == "ERR_5500"
    for bad in ("Upper-Case", "under_score", "x" * 101):
        response = Client(api).get(f"{MODELS}/{bad}")
        assert response.status_code == 400 and error_code(response) == "ERR_2003", bad


def test_an_archived_model_disappears_from_the_marketplace(api) -> None:
    dev, _ = developer(api)
    _, base_id = seed_base_model()
    tag = word()
    model = create_model(dev, base_id, title=f"Soon gone {tag}")
    publish(dev, model["id"])
    assert [m["id"] for m in listed(api, search=tag)[0]] == [model["id"]]
    assert data(Client(api).get(f"{MODELS}/{model['slug']}"))["id"] == model["id"]
    data(dev.post(f"{TARS}/{model['id']}/archive"))
    assert listed(api, search=tag)[0] == []
    assert error_code(Client(api).get(f"{MODELS}/{model['slug']}")) == "ERR_5500"


def test_models_that_cannot_run_are_not_listed(api) -> None:
    dev, _ = developer(api)
    endpoint_id, base_id = seed_base_model()
    tag = word()
    model = create_model(dev, base_id, title=f"Runnable {tag}")
    publish(dev, model["id"])
    set_active(records.BASE_MODELS, base_id, active=False)
    assert listed(api, search=tag)[0] == []
    set_active(records.BASE_MODELS, base_id, active=True)
    set_active(records.ENDPOINTS, endpoint_id, active=False)
    assert listed(api, search=tag)[0] == []
    set_active(records.ENDPOINTS, endpoint_id, active=True)
    assert [m["id"] for m in listed(api, search=tag)[0]] == [model["id"]]
