"""GET /api/v1/models agrees with a brute-force filter and sort over the same records, for
random combinations of filters, sorts, pages and limits (ids in order, total, hasMore).

The records live under one category unique to the run, and every query filters on it, so
other tests' models never enter the comparison. Values repeat on purpose (names, stats,
times, nsfw levels) so ties, and their nsfwLevel-then-id tie-break, are exercised.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.library import keys
from tests.helpers import auth, site_url
from tests.integration.library_records import put

BASES = ["SDXL 1.0", "sdxl 1.0", "Flux.1 D", "Pony"]
TYPES = ["LORA", "Checkpoint", "VAE"]
SUBS = [None, "qwen", "Anime"]
TAGS = ["Anime", "style", "photo", "Portrait"]
NAMES = ["Alpha", "alpha", "Beta cat", "Gamma", "delta CAT"]
SORTS = {
    "newest": lambda m: -m["minutes"],
    "oldest": lambda m: m["minutes"],
    "name": lambda m: m["name"].casefold(),
    "downloads": lambda m: -m["downloads"],
    "likes": lambda m: -m["likes"],
}


@pytest.fixture(scope="module")
def catalogue(stack: Any) -> dict[str, Any]:
    rng = random.Random(20240101)
    category = f"prop-{uuid.uuid4().hex[:8]}"
    models = []
    for n in range(60):
        m = {
            "subcategory": rng.choice(SUBS),
            "baseModel": rng.choice(BASES),
            "type": rng.choice(TYPES),
            "hasMetadata": rng.random() < 0.6,
            "nsfwLevel": rng.choice([0, 1, 2, 4, 16, 63]),
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
            "name": rng.choice(NAMES),
            "minutes": rng.randint(0, 10),
            "downloads": rng.choice([0, 5, 5, 100]),
            "likes": rng.choice([0, 1, 1, 7]),
        }
        stats = {"downloadCount": m["downloads"], "thumbsUpCount": m["likes"]}
        m["id"] = put(
            f"{category}/{n}.safetensors",
            minutes=m["minutes"],
            category=category,
            stats=stats,
            **{k: m[k] for k in ("subcategory", "baseModel", "type", "hasMetadata")},
            **{k: m[k] for k in ("nsfwLevel", "tags", "name")},
        )
        models.append(m)
    return {
        "url": f"{site_url(stack, 'library')}/api/v1/models",
        "key": auth(keys.show()),
        "category": category,
        "models": models,
    }


def expected(models: list[dict[str, Any]], q: dict[str, Any]) -> list[int]:
    def fold(v: Any) -> str:
        return str(v).strip().casefold()

    def keep(m: dict[str, Any]) -> bool:
        for field in ("subcategory", "baseModel", "type"):
            if field in q and (m[field] is None or fold(m[field]) != fold(q[field])):
                return False
        if "hasMetadata" in q and m["hasMetadata"] != (q["hasMetadata"] == "true"):
            return False
        if "maxNsfwLevel" in q and m["nsfwLevel"] > q["maxNsfwLevel"]:
            return False
        wanted = [fold(t) for t in q.get("tags", "").split(",") if t.strip()]
        if not all(t in {fold(x) for x in m["tags"]} for t in wanted):
            return False
        return fold(q.get("search", "")) in m["name"].casefold()

    by = SORTS[q.get("sort", "newest")]
    # Ties: nsfwLevel, then the document id, which Firestore orders as a string.
    ordered = sorted(filter(keep, models), key=lambda m: (by(m), m["nsfwLevel"], str(m["id"])))
    return [m["id"] for m in ordered]


queries = st.fixed_dictionaries(
    {},
    optional={
        "subcategory": st.sampled_from(["qwen", "ANIME"]),
        "baseModel": st.sampled_from(BASES),
        "type": st.sampled_from([*TYPES, "lora"]),
        "hasMetadata": st.sampled_from(["true", "false"]),
        "maxNsfwLevel": st.sampled_from([0, 1, 3, 16, 62, 63]),
        "tags": st.lists(st.sampled_from([*TAGS, "ANIME"]), min_size=1, max_size=3).map(",".join),
        "search": st.sampled_from(["cat", "ALPHA", "a", "zzz"]),
        "sort": st.sampled_from(list(SORTS)),
        "page": st.integers(1, 4),
        "limit": st.integers(1, 25),
    },
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(q=queries)
def test_list_matches_brute_force_filter_sort_and_paging(catalogue, q: dict[str, Any]) -> None:
    params = {**q, "category": catalogue["category"]}
    response = httpx.get(catalogue["url"], params=params, headers=catalogue["key"], timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    every = expected(catalogue["models"], q)
    page, limit = q.get("page", 1), q.get("limit", 40)
    start = (page - 1) * limit
    assert [i["id"] for i in body["items"]] == every[start : start + limit]
    assert body["total"] == len(every)
    assert body["hasMore"] == (start + limit < len(every))
    assert (body["page"], body["limit"]) == (page, limit)
