"""Studio text documents and storyboards over HTTP, against the running stack: create, get,
patch under a revision (a stale write is 409 and the newer text is kept), import from a
legacy asset, export as Markdown; the 512 KiB cap; owner-only access, nothing written on
refusal."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from shared.media.studio import assets as studio_assets
from shared.media.studio import document_store
from tests.studio_helpers import Studio, studio, written_by

BOARD = {
    "version": 2,
    "scenes": [{"id": "s1", "title": "Open", "shots": [{"id": "k1", "prompt": "A sunrise"}]}],
}


@pytest.fixture
def me(stack: Any) -> Studio:
    return studio(stack)


@pytest.fixture
def other(stack: Any) -> Studio:
    return studio(stack)


def _text(me: Studio, asset_id: str) -> httpx.Response:
    return me.call("GET", "/assets/text/document", params={"assetId": asset_id})


def test_text_create_get_patch(me: Studio) -> None:
    project_id = me.project()
    body = {
        "projectId": project_id,
        "title": "Script",
        "content": "v1",
        "mimeType": "text/markdown",
    }
    r = me.call("POST", "/assets/text", json=body)
    assert r.status_code == 201, r.text
    asset, doc = r.json()["asset"], r.json()["document"]
    assert asset["kind"] == "text" and asset["revision"] == 1 and asset["url"] is None
    assert doc == {
        **doc,
        "content": "v1",
        "revision": 1,
        "etag": '"r1"',
        "mimeType": "text/markdown",
    }
    got = _text(me, asset["id"])
    assert (
        got.status_code == 200 and got.headers["ETag"] == '"r1"' and got.json()["content"] == "v1"
    )
    r = me.call(
        "PATCH",
        "/assets/text/document",
        json={"assetId": asset["id"], "content": "v2", "title": "Draft", "revision": 1},
    )
    assert r.status_code == 200 and r.json()["revision"] == 2 and r.headers["ETag"] == '"r2"'
    record = studio_assets.owned_asset(me.account_id, asset["id"])
    assert (record.title, record.revision, record.size_bytes) == ("Draft", 2, 2)
    # If-Match: stale -> 409 with the current revision, the stored text unchanged
    r = me.call(
        "PATCH",
        "/assets/text/document",
        json={"assetId": asset["id"], "content": "v3"},
        headers={"If-Match": '"r1"'},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "revision_conflict"
    assert r.json()["error"]["details"]["currentRevision"] == 2
    assert _text(me, asset["id"]).json()["content"] == "v2"
    r = me.call(
        "PATCH",
        "/assets/text/document",
        json={"assetId": asset["id"], "content": "v3"},
        headers={"If-Match": '"r2"'},
    )
    assert r.status_code == 200 and r.json()["content"] == "v3"


def test_concurrent_patches_one_wins(me: Studio) -> None:
    asset_id = me.text(me.project(), content="base")
    results: dict[str, int] = {}
    start = threading.Barrier(2)

    def edit(text: str) -> None:
        start.wait()
        r = me.call(
            "PATCH",
            "/assets/text/document",
            json={"assetId": asset_id, "content": text, "revision": 1},
        )
        results[text] = r.status_code

    workers = [threading.Thread(target=edit, args=(t,)) for t in ("alpha", "beta")]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(results.values()) == [200, 409], results
    winner = next(t for t, s in results.items() if s == 200)
    doc = document_store.get_text(account_id=me.account_id, asset_id=asset_id)
    assert doc.content == winner and doc.revision == 2


def test_text_refusals_write_nothing(me: Studio, other: Studio) -> None:
    project_id = me.project()
    asset_id = me.text(project_id, content="keep")
    before = written_by(me.account_id)
    too_big = {"projectId": project_id, "title": "Big", "content": "a" * (512 * 1024 + 1)}
    assert me.call("POST", "/assets/text", json=too_big).status_code == 413
    r = me.call(
        "PATCH",
        "/assets/text/document",
        json={"assetId": asset_id, "content": "é" * (256 * 1024 + 1)},
    )
    assert r.status_code == 413
    for body in (
        {"projectId": project_id},
        {"projectId": project_id, "title": ""},
        {"projectId": project_id, "title": "t", "mimeType": "not a mime"},
        {"projectId": project_id, "title": "t", "content": 5},
        {"projectId": project_id, "title": "t", "x": 1},
    ):
        assert me.call("POST", "/assets/text", json=body).status_code == 400, body
    r = me.call(
        "PATCH",
        "/assets/text/document",
        json={"assetId": asset_id, "content": "x"},
        headers={"If-Match": "garbage"},
    )
    assert r.status_code == 400
    assert (
        other.call("POST", "/assets/text", json={"projectId": project_id, "title": "t"}).status_code
        == 404
    )
    assert _text(other, asset_id).status_code == 404
    r = other.call(
        "PATCH", "/assets/text/document", json={"assetId": asset_id, "content": "theirs"}
    )
    assert r.status_code == 404
    assert (
        written_by(me.account_id) == before and written_by(other.account_id)["studio_assets"] == 0
    )
    assert _text(me, asset_id).json()["content"] == "keep"


def test_storyboard_create_get_patch_export(me: Studio, other: Studio) -> None:
    project_id = me.project()
    r = me.call(
        "POST",
        "/assets/storyboards",
        json={"projectId": project_id, "title": "Ad", "storyboard": BOARD},
    )
    assert r.status_code == 201, r.text
    asset_id = r.json()["asset"]["id"]
    assert r.json()["storyboard"]["storyboard"]["scenes"][0]["shots"][0]["prompt"] == "A sunrise"
    got = me.call("GET", "/assets/storyboards/document", params={"assetId": asset_id})
    assert got.status_code == 200 and got.json()["revision"] == 1 and got.headers["ETag"] == '"r1"'
    assert _text(me, asset_id).status_code == 404  # a text route on a storyboard
    changed = json.loads(json.dumps(BOARD))
    changed["scenes"][0]["shots"][0]["prompt"] = "A *bold* sunset"
    patch = {"assetId": asset_id, "storyboard": changed, "revision": 1}
    r = me.call("PATCH", "/assets/storyboards/document", json=patch)
    assert r.status_code == 200 and r.json()["revision"] == 2
    # the same edit retried answers as applied; a different edit on revision 1 is stale
    assert me.call("PATCH", "/assets/storyboards/document", json=patch).json()["revision"] == 2
    stale = {**patch, "storyboard": BOARD}
    r = me.call("PATCH", "/assets/storyboards/document", json=stale)
    assert r.status_code == 409 and r.json()["error"]["details"]["currentRevision"] == 2
    bad = {"assetId": asset_id, "storyboard": {"version": 3}}
    assert me.call("PATCH", "/assets/storyboards/document", json=bad).status_code == 400
    assert (
        other.call(
            "PATCH", "/assets/storyboards/document", json={**patch, "revision": 2}
        ).status_code
        == 404
    )
    r = me.call("GET", "/assets/storyboards/export-markdown", params={"assetId": asset_id})
    assert r.status_code == 200 and r.json()["filename"] == "ad.md"
    assert "A \\*bold\\* sunset" in r.json()["markdown"]
    assert (
        other.call(
            "GET", "/assets/storyboards/export-markdown", params={"assetId": asset_id}
        ).status_code
        == 404
    )
    got = me.call("GET", "/assets/storyboards/document", params={"assetId": asset_id}).json()
    shot = got["storyboard"]["scenes"][0]["shots"][0]
    assert got["revision"] == 2 and shot == {
        "id": "k1",
        "prompt": "A *bold* sunset",
        "referenceAssetIds": [],
    }


def test_storyboard_import(me: Studio, other: Studio) -> None:
    project_id = me.project()
    target = me.project("Target")
    outline = me.text(project_id, title="Outline", content="# Intro\n- wide shot\n- close up\n")
    r = me.call(
        "POST", "/assets/storyboards/import", json={"projectId": target, "sourceAssetId": outline}
    )
    assert r.status_code == 201, r.text
    board = r.json()["storyboard"]
    assert board["projectId"] == target and board["title"] == "Outline"
    assert [s["prompt"] for s in board["storyboard"]["scenes"][0]["shots"]] == [
        "wide shot",
        "close up",
    ]
    legacy = json.dumps(
        {"frames": [{"scene": "A", "prompt": "one"}, {"scene": "B", "text": "two"}]}
    )
    up = me.upload(project_id, "legacy.json", legacy.encode())
    r = me.call(
        "POST",
        "/assets/storyboards/import",
        json={"projectId": project_id, "sourceAssetId": up.json()["id"], "title": "Legacy"},
    )
    assert r.status_code == 201 and len(r.json()["storyboard"]["storyboard"]["scenes"]) == 2
    before = written_by(me.account_id)
    empty = me.text(project_id, title="Empty", content="   ")
    before = written_by(me.account_id)
    assert (
        me.call(
            "POST",
            "/assets/storyboards/import",
            json={"projectId": project_id, "sourceAssetId": empty},
        ).status_code
        == 400
    )
    bad_json = me.text(project_id, title="Bad", content='{"frames": 3}')
    before = written_by(me.account_id)
    assert (
        me.call(
            "POST",
            "/assets/storyboards/import",
            json={"projectId": project_id, "sourceAssetId": bad_json},
        ).status_code
        == 400
    )
    assert (
        other.call(
            "POST",
            "/assets/storyboards/import",
            json={"projectId": project_id, "sourceAssetId": outline},
        ).status_code
        == 404
    )
    their_project = other.project()
    assert (
        other.call(
            "POST",
            "/assets/storyboards/import",
            json={"projectId": their_project, "sourceAssetId": outline},
        ).status_code
        == 404
    )
    assert (
        me.call(
            "POST",
            "/assets/storyboards/import",
            json={"projectId": project_id, "sourceAssetId": outline, "x": 1},
        ).status_code
        == 400
    )
    assert (
        written_by(me.account_id) == before and written_by(other.account_id)["studio_assets"] == 0
    )


def test_document_routes_answer_only_their_own_kind(me: Studio) -> None:
    project_id = me.project()
    text_id = me.text(project_id)
    upload_id = me.upload(project_id, "a.txt", b"hello").json()["id"]
    for asset_id in (text_id, upload_id):
        for path in ("/assets/storyboards/document", "/assets/storyboards/export-markdown"):
            assert me.call("GET", path, params={"assetId": asset_id}).status_code == 404
    assert _text(me, upload_id).status_code == 404
    before = written_by(me.account_id)
    patch = {"assetId": upload_id, "content": "overwrite"}
    assert me.call("PATCH", "/assets/text/document", json=patch).status_code == 404
    board = {"assetId": text_id, "storyboard": BOARD}
    assert me.call("PATCH", "/assets/storyboards/document", json=board).status_code == 404
    assert written_by(me.account_id) == before
    for path in ("/assets/text/document", "/assets/storyboards/document"):
        assert me.call("GET", path).status_code == 400
        assert me.call("GET", path, params={"assetId": "a/b"}).status_code == 400
