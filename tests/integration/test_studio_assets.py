"""Studio assets over HTTP, against the running stack: uploads checked by content and served
back by signed URL; hostile or mismatched uploads refused with nothing stored; the browser
list's scopes, search and pages; metadata edits and the recycling bin; owner-only access."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.media.studio import assets as studio_assets
from tests.studio_helpers import PDF, Studio, glb, mp4, objects, png, studio, wav, written_by


@pytest.fixture
def me(stack: Any) -> Studio:
    return studio(stack)


@pytest.fixture
def other(stack: Any) -> Studio:
    return studio(stack)


@pytest.mark.parametrize(
    ("filename", "data", "mime"),
    [
        ("red.png", png(), "image/png"),
        ("beep.wav", wav(), "audio/wav"),
        ("clip.mp4", mp4(), "video/mp4"),
        ("notes.txt", "héllo\n".encode(), "text/plain"),
        ("plan.md", b"# Plan\n- one\n", "text/markdown"),
        ("data.json", b'{"a": [1, 2]}', "application/json"),
        ("doc.pdf", PDF, "application/pdf"),
        ("cube.glb", glb(), "model/gltf-binary"),
        ("fake.txt", png(), "image/png"),  # the content decides, not the name
    ],
)
def test_upload_round_trips_by_signed_url(
    me: Studio, filename: str, data: bytes, mime: str
) -> None:
    project_id = me.project()
    r = me.upload(project_id, filename, data)
    assert r.status_code == 201, r.text
    asset = r.json()
    assert asset["mimeType"] == mime and asset["sizeBytes"] == len(data)
    assert asset["filename"] == filename and asset["scope"] == "active"
    assert asset["kind"] == "file" and asset["url"]
    got = httpx.get(asset["url"], timeout=30)
    assert got.status_code == 200 and got.content == data
    assert len(objects(f"studio/{me.account_id}/{project_id}/")) == 1


@pytest.mark.parametrize(
    ("filename", "data", "status"),
    [
        ("x.bin", b"\x00\x01\x02\x03garbage\xff\xfe", 400),
        ("x.png", png()[:40], 400),  # a truncated image
        ("x.glb", glb()[:-4], 400),  # declared length wrong
        ("x.txt", b"", 400),
        ("../evil.txt", b"hi", 400),
        ("a\\b.txt", b"hi", 400),
        ("bad\nname.txt", b"hi", 400),
        ("..", b"hi", 400),
        ("n" * 241, b"hi", 400),
        ("big.txt", b"a" * (25 * 1024 * 1024 + 1), 413),
    ],
)
def test_hostile_uploads_store_nothing(me: Studio, filename: str, data: bytes, status: int) -> None:
    project_id = me.project()
    before = written_by(me.account_id)
    r = me.upload(project_id, filename, data)
    assert r.status_code == status, r.text
    assert "error" in r.json()
    assert written_by(me.account_id) == before
    assert objects(f"studio/{me.account_id}/") == []


def test_unsupported_upload_names_the_code(me: Studio) -> None:
    r = me.upload(me.project(), "x.bin", b"\x00\x01\x02\x03garbage\xff\xfe")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_media_type"


def test_upload_into_someone_elses_project_is_404(me: Studio, other: Studio) -> None:
    project_id = me.project()
    r = other.upload(project_id, "a.txt", b"hello")
    assert r.status_code == 404
    assert (
        objects(f"studio/{other.account_id}/") == [] and objects(f"studio/{me.account_id}/") == []
    )
    assert (
        me.call("POST", "/assets/upload", params={"filename": "a.txt"}, content=b"x").status_code
        == 400
    )


def _list(me: Studio, project_id: str, **params: Any) -> httpx.Response:
    return me.call("GET", "/projects/assets", params={"projectId": project_id, **params})


def test_list_pages_searches_and_scopes(me: Studio, other: Studio) -> None:
    project_id = me.project()
    elsewhere = me.project("Other")
    ids = [me.text(project_id, title=f"Scene {i}", content="x") for i in range(5)]
    me.upload(project_id, "Poster-FINAL.png", png())
    me.text(elsewhere, title="Scene elsewhere")
    page = _list(me, project_id, limit="2").json()
    assert page["total"] == 6 and len(page["assets"]) == 2 and page["nextOffset"] == 2
    assert page["assets"][0]["filename"] == "Poster-FINAL.png"  # newest first
    seen = [
        a["id"]
        for off in (0, 2, 4)
        for a in _list(me, project_id, limit="2", offset=str(off)).json()["assets"]
    ]
    assert (
        len(set(seen)) == 6
        and _list(me, project_id, offset="4", limit="2").json()["nextOffset"] is None
    )
    found = _list(me, project_id, searchQuery="poster-final").json()
    assert [a["filename"] for a in found["assets"]] == ["Poster-FINAL.png"]
    assert _list(me, project_id, searchQuery="SCENE").json()["total"] == 5
    # recycle one: it leaves the active list and appears in the bin
    r = me.call(
        "PATCH",
        "/assets/metadata",
        json={"assetId": ids[0], "userMetadata": {"recycled": True, "tag": "old"}},
    )
    assert r.status_code == 200 and r.json()["scope"] == "recycling"
    assert r.json()["userMetadata"] == {"recycled": True, "tag": "old"}
    assert _list(me, project_id).json()["total"] == 5
    assert [a["id"] for a in _list(me, project_id, scope="recycling").json()["assets"]] == [ids[0]]
    r = me.call(
        "PATCH", "/assets/metadata", json={"assetId": ids[0], "userMetadata": {"recycled": False}}
    )
    assert r.json()["scope"] == "active" and _list(me, project_id).json()["total"] == 6
    # bad query parameters and other accounts
    for params in (
        {"limit": "0"},
        {"limit": "x"},
        {"offset": "-1"},
        {"scope": "recycling_bin"},
        {"offset": "\uff11"},
    ):
        assert _list(me, project_id, **params).status_code == 400, params
    assert me.call("GET", "/projects/assets").status_code == 400
    assert _list(other, project_id).status_code == 404


def test_metadata_refusals_write_nothing(me: Studio, other: Studio) -> None:
    project_id = me.project()
    asset_id = me.text(project_id)
    stored = studio_assets.owned_asset(me.account_id, asset_id)
    for body in (
        {"assetId": asset_id},
        {"assetId": asset_id, "userMetadata": []},
        {"assetId": asset_id, "userMetadata": {"recycled": "yes"}},
        {"assetId": asset_id, "userMetadata": {"__x__": 1}},
        {"assetId": asset_id, "userMetadata": {"big": "x" * 17_000}},
        {"assetId": asset_id, "userMetadata": {}, "more": 1},
    ):
        assert me.call("PATCH", "/assets/metadata", json=body).status_code == 400, body
    r = other.call(
        "PATCH", "/assets/metadata", json={"assetId": asset_id, "userMetadata": {"recycled": True}}
    )
    assert r.status_code == 404
    assert (
        me.call(
            "PATCH", "/assets/metadata", json={"assetId": "ast_nope", "userMetadata": {}}
        ).status_code
        == 404
    )
    assert studio_assets.owned_asset(me.account_id, asset_id) == stored


def test_multipart_upload_takes_its_one_file(me: Studio) -> None:
    project_id = me.project()
    params = {"projectId": project_id, "filename": "red.png"}
    r = me.call("POST", "/assets/upload", params=params, files={"file": ("x.bin", png())})
    assert r.status_code == 201, r.text
    assert r.json()["mimeType"] == "image/png" and r.json()["sizeBytes"] == len(png())
    before = written_by(me.account_id)
    two = {"a": ("a.txt", b"one"), "b": ("b.txt", b"two")}
    r = me.call("POST", "/assets/upload", params=params, files=two)
    assert r.status_code == 400 and written_by(me.account_id) == before


def test_malformed_multipart_is_a_400(me: Studio) -> None:
    params = {"projectId": me.project(), "filename": "a.txt"}
    big_field = (
        b'--x\r\nContent-Disposition: form-data; name="f"\r\n\r\n'
        + b"a" * 600_000
        + b"\r\n--x--\r\n"
    )
    before = written_by(me.account_id)
    for body in (b"garbage", big_field):
        headers = {"Content-Type": "multipart/form-data; boundary=x"}
        r = me.call("POST", "/assets/upload", params=params, content=body, headers=headers)
        assert r.status_code == 400, r.text
    assert written_by(me.account_id) == before
