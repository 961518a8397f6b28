"""Arcade releases over HTTP: uploads store exactly the bundle's files (hostile bundles store
nothing), and review moves follow the one state table, admin-only, one winner when raced."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from shared.engine import outputs
from shared.media.arcade.releases import release_ref
from tests.arcade_helpers import (
    API,
    GODOT,
    MIB,
    arcade_account,
    create_game,
    expect_error,
    godot_entries,
    godot_zip,
    manifest,
    png,
    raw_zip,
    releases_of,
    review,
    stored_objects,
    upload,
    zeros_deflated,
)
from tests.helpers import auth, site_url


@pytest.fixture
def base(stack: Any) -> str:
    return site_url(stack, "media") + API


def test_upload_stores_every_file_and_the_cover_then_a_draft(base: str) -> None:
    owner, key = arcade_account()
    game = create_game(base, key)
    cover = png()
    r = upload(base, key, game["id"], cover=cover)
    assert r.status_code == 201, r.text
    release = r.json()["release"]
    assert release["status"] == "draft" and release["sequence"] == 1
    assert {f["path"]: f["size"] for f in release["files"]} == {p: len(d) for p, d in GODOT.items()}
    assert release["cover"]["contentType"] == "image/png" and release["cover"]["width"] == 32
    prefix = f"arcade/{game['id']}/{release['id']}/"
    expected = sorted([*(f"{prefix}files/{p}" for p in GODOT), f"{prefix}cover.png"])
    assert stored_objects(game["id"]) == expected
    for path, data in GODOT.items():
        blob = outputs.bucket().get_blob(f"{prefix}files/{path}")
        assert blob.size == len(data) and blob.download_as_bytes() == data
    doc = release_ref(release["id"]).get().to_dict()
    assert doc["owner_id"] == owner and doc["status"] == "draft"
    second = upload(base, key, game["id"]).json()["release"]
    assert second["sequence"] == 2


def _bomb() -> bytes:
    stream, crc = zeros_deflated(1024)
    bomb = {"name": "index.pck", "data": stream, "method": 8, "crc": crc, "size": 1024 * MIB}
    rest = {k: v for k, v in GODOT.items() if k != "index.pck"}
    return raw_zip([*godot_entries(rest), bomb])


def _hostile() -> list[tuple[str, bytes, str]]:
    slip = {**GODOT, "../evil.js": b"alert(1)"}
    no_pck = {k: v for k, v in GODOT.items() if k != "index.pck"}
    wrong = dict(GODOT)
    wrong_zip = godot_zip({**GODOT, "index.pck": b"GDPC" + bytes(4095)})
    return [
        ("zip-slip", godot_zip(slip), manifest(GODOT)),
        ("bomb", _bomb(), manifest({**GODOT, "index.pck": b""})),
        ("missing-pck-in-zip", godot_zip(no_pck), manifest(GODOT)),
        ("missing-pck-everywhere", godot_zip(no_pck), manifest(no_pck)),
        ("wrong-hash", wrong_zip, manifest(wrong)),
        ("not-a-zip", b"this is not a zip at all", manifest(GODOT)),
        ("bad-manifest", godot_zip(GODOT), '{"formatVersion": 2}'),
        ("manifest-not-json", godot_zip(GODOT), "{nope"),
    ]


@pytest.mark.parametrize("case", _hostile(), ids=lambda c: c[0])
def test_hostile_bundles_are_400_and_store_nothing(base: str, case: tuple[str, bytes, str]) -> None:
    _, key = arcade_account()
    game = create_game(base, key)
    _, zip_bytes, manifest_json = case
    r = upload(base, key, game["id"], zip_bytes=zip_bytes, manifest_json=manifest_json)
    expect_error(r, 400, "invalid_request")
    assert stored_objects(game["id"]) == []
    assert releases_of(game["id"]) == []


@pytest.mark.parametrize(
    "cover",
    [b"GIF89a" + bytes(100), b"\x89PNG\r\n\x1a\n" + bytes(64), b""],
    ids=["gif", "fake", "empty"],
)
def test_bad_cover_is_400_and_stores_nothing(base: str, cover: bytes) -> None:
    _, key = arcade_account()
    game = create_game(base, key)
    expect_error(upload(base, key, game["id"], cover=cover), 400, "invalid_request")
    assert stored_objects(game["id"]) == [] and releases_of(game["id"]) == []


def test_upload_to_someone_elses_game_is_404_and_bad_forms_are_400(base: str) -> None:
    _, key = arcade_account()
    _, other = arcade_account()
    game = create_game(base, key)
    expect_error(upload(base, other, game["id"]), 404, "not_found")
    expect_error(upload(base, key, "no-such-game"), 404, "not_found")
    expect_error(upload(base, key, game["id"], extra={"channel": "live"}), 400, "invalid_request")
    r = httpx.post(f"{base}/releases/upload", json={"gameId": game["id"]}, headers=auth(key))
    expect_error(r, 400, "invalid_request")
    r = httpx.post(
        f"{base}/releases/upload",
        data={"gameId": game["id"], "manifestJson": manifest(GODOT)},
        headers=auth(key),
    )
    expect_error(r, 400, "invalid_request")  # no bundle
    assert stored_objects(game["id"]) == [] and releases_of(game["id"]) == []


def _draft(base: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    _, owner = arcade_account()
    game = create_game(base, owner)
    r = upload(base, owner, game["id"])
    assert r.status_code == 201, r.text
    return owner, game["id"], game, r.json()["release"]


def _status(release_id: str) -> str:
    return release_ref(release_id).get().to_dict()["status"]


def test_owner_submits_admin_approves_and_publishes_with_history(base: str) -> None:
    owner, _, _game, release = _draft(base)
    admin_id, admin = arcade_account(admin=True)
    r = httpx.patch(
        f"{base}/releases/submit", json={"releaseId": release["id"]}, headers=auth(owner)
    )
    assert r.status_code == 200 and r.json()["release"]["status"] == "in_review"
    queue = httpx.get(f"{base}/review/queue", headers=auth(admin)).json()["releases"]
    assert release["id"] in [e["release"]["id"] for e in queue]
    assert (
        review(base, admin, release["id"], "approve", notes="fine").json()["release"]["status"]
        == "approved"
    )
    r = review(base, admin, release["id"], "publish", channel="live")
    published = r.json()["release"]
    assert published["status"] == "published" and published["publishedChannels"] == ["live"]
    assert [h["action"] for h in published["history"]] == ["submit", "approve", "publish"]
    assert published["history"][1]["actorId"] == admin_id
    mine = httpx.get(f"{base}/games/mine", headers=auth(owner)).json()["games"][0]["game"]
    assert mine["channels"] == {"dev": None, "live": release["id"]}
    assert mine["visibility"]["live"] == "public"
    queue = httpx.get(f"{base}/review/queue", headers=auth(admin)).json()["releases"]
    assert release["id"] not in [e["release"]["id"] for e in queue]


def test_reject_needs_notes_and_ends_review(base: str) -> None:
    _, _, _, release = _draft(base)
    _, admin = arcade_account(admin=True)
    assert review(base, admin, release["id"], "send_to_review").status_code == 200
    expect_error(review(base, admin, release["id"], "reject"), 400, "invalid_request")
    assert _status(release["id"]) == "in_review"
    r = review(base, admin, release["id"], "reject", notes="crashes on start")
    assert (
        r.json()["release"]["status"] == "rejected"
        and r.json()["release"]["notes"] == "crashes on start"
    )
    for action, extra in (
        ("approve", {}),
        ("publish", {"channel": "live"}),
        ("send_to_review", {}),
    ):
        expect_error(review(base, admin, release["id"], action, **extra), 409, "conflict")
    assert _status(release["id"]) == "rejected"


@pytest.mark.parametrize(
    "action,extra",
    [("approve", {}), ("reject", {"notes": "n"}), ("publish", {"channel": "dev"})],
)
def test_moves_from_draft_other_than_review_are_409(
    base: str, action: str, extra: dict[str, Any]
) -> None:
    _, _, _, release = _draft(base)
    _, admin = arcade_account(admin=True)
    expect_error(review(base, admin, release["id"], action, **extra), 409, "conflict")
    assert _status(release["id"]) == "draft"


def test_refused_moves_once_in_review_and_approved(base: str) -> None:
    owner, _, _, release = _draft(base)
    _, admin = arcade_account(admin=True)
    assert review(base, admin, release["id"], "send_to_review").status_code == 200
    r = httpx.patch(
        f"{base}/releases/submit", json={"releaseId": release["id"]}, headers=auth(owner)
    )
    expect_error(r, 409, "conflict")
    expect_error(review(base, admin, release["id"], "send_to_review"), 409, "conflict")
    expect_error(review(base, admin, release["id"], "publish", channel="live"), 409, "conflict")
    assert review(base, admin, release["id"], "approve").status_code == 200
    for action, extra in (("approve", {}), ("reject", {"notes": "n"}), ("send_to_review", {})):
        expect_error(review(base, admin, release["id"], action, **extra), 409, "conflict")
    expect_error(review(base, admin, release["id"], "publish"), 400, "invalid_request")
    expect_error(
        review(base, admin, release["id"], "approve", channel="dev"), 400, "invalid_request"
    )
    assert _status(release["id"]) == "approved"


def test_review_is_admin_only_and_submit_owner_only(base: str) -> None:
    owner, _game_id, _, release = _draft(base)
    _, stranger = arcade_account()
    for key in (owner, stranger):
        expect_error(review(base, key, release["id"], "send_to_review"), 403, "forbidden")
        expect_error(httpx.get(f"{base}/review/queue", headers=auth(key)), 403, "forbidden")
    r = httpx.patch(
        f"{base}/releases/submit", json={"releaseId": release["id"]}, headers=auth(stranger)
    )
    expect_error(r, 404, "not_found")
    _, admin = arcade_account(admin=True)
    expect_error(review(base, admin, "no-such-release", "approve"), 404, "not_found")
    expect_error(review(base, admin, release["id"], "ship"), 400, "invalid_request")
    r = httpx.patch(
        f"{base}/releases/submit", json={"releaseId": release["id"], "x": 1}, headers=auth(owner)
    )
    expect_error(r, 400, "invalid_request")
    assert _status(release["id"]) == "draft"


def test_concurrent_approves_one_wins(base: str) -> None:
    _, _, _, release = _draft(base)
    _, admin = arcade_account(admin=True)
    assert review(base, admin, release["id"], "send_to_review").status_code == 200
    with ThreadPoolExecutor(5) as pool:
        codes = sorted(
            pool.map(lambda _: review(base, admin, release["id"], "approve").status_code, range(5))
        )
    assert codes == [200, 409, 409, 409, 409]
    history = release_ref(release["id"]).get().to_dict()["history"]
    assert [h["action"] for h in history] == ["send_to_review", "approve"]


def test_hostile_request_bodies_are_4xx_and_store_nothing(base: str) -> None:
    _, key = arcade_account()
    game = create_game(base, key)
    too_big = godot_zip({**GODOT, "data/blob.pck": os.urandom(33 * MIB)})
    expect_error(upload(base, key, game["id"], zip_bytes=too_big), 413, "payload_too_large")
    junk = {**auth(key), "Content-Type": "multipart/form-data; boundary=xyz"}
    r = httpx.post(f"{base}/releases/upload", content=b"--xyz\r\nnot a part", headers=junk)
    expect_error(r, 400, "invalid_request")
    deep = {**auth(key), "Content-Type": "application/json"}
    r = httpx.patch(f"{base}/releases/submit", content=b"[" * 100_000, headers=deep)
    assert 400 <= r.status_code < 500, r.text
    assert stored_objects(game["id"]) == [] and releases_of(game["id"]) == []
