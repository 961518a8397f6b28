"""Arcade games over HTTP against the running stack: create (slug unique), mine, detail and
catalog per channel with the visibility rule, and bad input refused with nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine.store import db
from shared.media.arcade.games import GAMES, SLUGS
from tests.arcade_helpers import (
    API,
    arcade_account,
    create_game,
    expect_error,
    new_slug,
    published_game,
    upload,
)
from tests.helpers import auth, site_url


@pytest.fixture
def base(stack: Any) -> str:
    return site_url(stack, "media") + API


def _games_with_slug(slug: str) -> int:
    return len(list(db().collection(GAMES).where(filter=FieldFilter("slug", "==", slug)).stream()))


def test_create_game_normalises_the_slug_and_claims_it(base: str) -> None:
    owner, key = arcade_account()
    slug = new_slug()
    game = create_game(base, key, slug=f"  {slug.upper()} ", tags=["Puzzle", "puzzle", "Arcade"])
    assert game["slug"] == slug
    assert game["ownerId"] == owner
    assert game["tags"] == ["puzzle", "arcade"]
    assert game["channels"] == {"dev": None, "live": None}
    assert db().collection(SLUGS).document(slug).get().to_dict()["gameId"] == game["id"]


def test_a_taken_slug_is_a_409_and_writes_nothing(base: str) -> None:
    _, key = arcade_account()
    _, other = arcade_account()
    game = create_game(base, key)
    r = httpx.post(
        f"{base}/games",
        json={"slug": game["slug"], "title": "B", "shortDescription": "b", "description": "b"},
        headers=auth(other),
    )
    expect_error(r, 409, "conflict")
    assert _games_with_slug(game["slug"]) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"slug": "ab"},
        {"slug": "bad slug!"},
        {"slug": "-leading"},
        {"title": ""},
        {"title": 5},
        {"tags": "puzzle"},
        {"tags": [f"t{n}" for n in range(11)]},
        {"unknown": 1},
        {"description": None},
    ],
)
def test_bad_game_bodies_are_400_and_write_nothing(base: str, change: dict[str, Any]) -> None:
    _, key = arcade_account()
    slug = new_slug()
    body = {"slug": slug, "title": "T", "shortDescription": "s", "description": "d", **change}
    expect_error(httpx.post(f"{base}/games", json=body, headers=auth(key)), 400, "invalid_request")
    assert _games_with_slug(slug) == 0
    assert not db().collection(SLUGS).document(slug).get().exists


def test_missing_field_and_no_key(base: str) -> None:
    _, key = arcade_account()
    body = {"slug": new_slug(), "title": "T", "shortDescription": "s"}
    expect_error(httpx.post(f"{base}/games", json=body, headers=auth(key)), 400, "invalid_request")
    expect_error(httpx.get(f"{base}/games/mine"), 401, "unauthorized")


def test_mine_lists_only_the_callers_games_with_their_releases(base: str) -> None:
    _, key = arcade_account()
    _, other = arcade_account()
    game = create_game(base, key)
    create_game(base, other)
    assert upload(base, key, game["id"]).status_code == 201
    mine = httpx.get(f"{base}/games/mine", headers=auth(key)).json()["games"]
    assert [g["game"]["id"] for g in mine] == [game["id"]]
    assert [r["status"] for r in mine[0]["releases"]] == ["draft"]
    assert mine[0]["releases"][0]["sequence"] == 1
    expect_error(httpx.get(f"{base}/games/mine?x=1", headers=auth(key)), 400, "invalid_request")


def test_live_public_game_is_in_everyones_catalog_and_detail(base: str) -> None:
    _, owner = arcade_account()
    _, admin = arcade_account(admin=True)
    _, stranger = arcade_account()
    game, release = published_game(base, owner, admin)
    for key in (owner, admin, stranger):
        entries = httpx.get(f"{base}/catalog", headers=auth(key)).json()["entries"]
        found = [e for e in entries if e["game"]["id"] == game["id"]]
        assert len(found) == 1 and found[0]["release"]["id"] == release["id"]
        r = httpx.get(f"{base}/games/detail", params={"slug": game["slug"]}, headers=auth(key))
        assert r.status_code == 200, r.text
        assert r.json()["channel"] == "live" and r.json()["release"]["id"] == release["id"]
    stranger_view = httpx.get(
        f"{base}/games/detail", params={"slug": game["slug"]}, headers=auth(stranger)
    ).json()
    assert "history" not in stranger_view["release"]  # review notes are the owner's
    # Not on dev: 404 for everyone.
    r = httpx.get(
        f"{base}/games/detail", params={"slug": game["slug"], "channel": "dev"}, headers=auth(owner)
    )
    expect_error(r, 404, "not_found")


def test_dev_channel_is_for_its_creator_and_admins_only(base: str) -> None:
    _, owner = arcade_account()
    _, admin = arcade_account(admin=True)
    _, stranger = arcade_account()
    game, _ = published_game(base, owner, admin, channel="dev")
    params = {"slug": game["slug"], "channel": "dev"}
    for key in (owner, admin):
        ids = [
            e["game"]["id"]
            for e in httpx.get(
                f"{base}/catalog", params={"channel": "dev"}, headers=auth(key)
            ).json()["entries"]
        ]
        assert game["id"] in ids
        assert (
            httpx.get(f"{base}/games/detail", params=params, headers=auth(key)).status_code == 200
        )
    ids = [
        e["game"]["id"]
        for e in httpx.get(
            f"{base}/catalog", params={"channel": "dev"}, headers=auth(stranger)
        ).json()["entries"]
    ]
    assert game["id"] not in ids
    expect_error(
        httpx.get(f"{base}/games/detail", params=params, headers=auth(stranger)), 404, "not_found"
    )
    live = httpx.get(f"{base}/catalog", headers=auth(stranger)).json()["entries"]
    assert game["id"] not in [e["game"]["id"] for e in live]


def test_owner_only_live_game_is_hidden_from_strangers(base: str) -> None:
    _, owner = arcade_account()
    _, admin = arcade_account(admin=True)
    _, stranger = arcade_account()
    game, _ = published_game(base, owner, admin, visibility="owner_only")
    params = {"slug": game["slug"]}
    assert httpx.get(f"{base}/games/detail", params=params, headers=auth(owner)).status_code == 200
    expect_error(
        httpx.get(f"{base}/games/detail", params=params, headers=auth(stranger)), 404, "not_found"
    )
    live = httpx.get(f"{base}/catalog", headers=auth(stranger)).json()["entries"]
    assert game["id"] not in [e["game"]["id"] for e in live]


@pytest.mark.parametrize(
    "query",
    [{"channel": "beta"}, {"channel": "live", "extra": "1"}, {}, {"slug": ""}],
)
def test_bad_detail_queries_are_400(base: str, query: dict[str, str]) -> None:
    _, key = arcade_account()
    r = httpx.get(f"{base}/games/detail", params=query, headers=auth(key))
    expect_error(r, 400, "invalid_request")


def test_bad_catalog_query_and_unknown_slug(base: str) -> None:
    _, key = arcade_account()
    expect_error(
        httpx.get(f"{base}/catalog?channel=prod", headers=auth(key)), 400, "invalid_request"
    )
    r = httpx.get(f"{base}/games/detail", params={"slug": new_slug()}, headers=auth(key))
    expect_error(r, 404, "not_found")
