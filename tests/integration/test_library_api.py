"""The library's public API as a key holder uses it: the list's envelope and 400s, a model's
detail with notes and user images, and downloads (bytes, ranges, 403 outside the root, 404s)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from shared.engine.store import db
from shared.library import keys, notes, records, storage
from tests.helpers import auth, site_url
from tests.integration.library_records import put

ITEM_FIELDS = {
    "id",
    "name",
    "type",
    "category",
    "subcategory",
    "baseModel",
    "nsfwLevel",
    "creatorName",
    "creatorAvatar",
    "tags",
    "stats",
    "hasMetadata",
    "heroImage",
}


@pytest.fixture
def api(stack: Any) -> str:
    return f"{site_url(stack, 'library')}/api/v1"


@pytest.fixture
def key(stack: Any) -> dict[str, str]:
    return auth(keys.show())


def test_list_answers_the_documented_envelope_with_exactly_the_item_fields(api, key) -> None:
    category = f"cat-{uuid.uuid4().hex[:8]}"
    first = put(f"{category}/a.safetensors", category=category, name="Alpha", minutes=1)
    second = put(f"{category}/b.safetensors", category=category, name="beta", minutes=2)
    body = httpx.get(f"{api}/models", params={"category": category}, headers=key).json()
    assert set(body) == {"items", "total", "page", "limit", "hasMore"}
    assert (body["total"], body["page"], body["limit"], body["hasMore"]) == (2, 1, 40, False)
    assert [i["id"] for i in body["items"]] == [second, first]  # newest first by default
    assert all(set(i) == ITEM_FIELDS for i in body["items"])
    assert body["items"][0]["stats"]["downloadCount"] == 10


def test_list_filters_are_case_insensitive_and_tags_must_all_match(api, key) -> None:
    category = f"Cat-{uuid.uuid4().hex[:8]}"
    both = put(f"{category}/both.safetensors", category=category, tags=["Anime", "Style"])
    put(f"{category}/one.safetensors", category=category, tags=["anime"])
    params = {"category": category.upper(), "tags": "ANIME, style", "sort": "name"}
    body = httpx.get(f"{api}/models", params=params, headers=key).json()
    assert [i["id"] for i in body["items"]] == [both]
    assert body["total"] == 1


def test_empty_parameter_values_mean_not_given(api, key) -> None:
    category = f"cat-{uuid.uuid4().hex[:8]}"
    put(f"{category}/x.safetensors", category=category)
    params = {"category": category, "type": "", "tags": "", "page": "", "sort": ""}
    body = httpx.get(f"{api}/models", params=params, headers=key).json()
    assert (body["total"], body["limit"]) == (1, 40)


@pytest.mark.parametrize(
    "query",
    [
        "maxNsfwLevel=64",
        "maxNsfwLevel=-1",
        "maxNsfwLevel=soft",
        "hasMetadata=yes",
        "sort=popular",
        "page=0",
        "page=two",
        "limit=0",
        "limit=101",
        "limit=1.5",
        "colour=red",
        "category=a&category=b",
        "search=" + "x" * 201,
    ],
)
def test_a_bad_list_parameter_is_a_400_with_an_error(api, key, query: str) -> None:
    response = httpx.get(f"{api}/models?{query}", headers=key)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str) and response.json()["error"]


@pytest.mark.parametrize("path", ["/models", "/models/1", "/models/1/download"])
def test_every_route_wants_the_key(api, path: str) -> None:
    assert httpx.get(f"{api}{path}").status_code == 401
    wrong = httpx.get(f"{api}{path}", headers=auth("0" * 64))
    assert wrong.status_code == 401 and wrong.json()["error"]


def test_an_unknown_api_path_is_a_404_with_an_error(api, key) -> None:
    response = httpx.get(f"{api}/nothing/here", headers=key)
    assert response.status_code == 404 and response.json()["error"]


def test_detail_shows_versions_notes_and_user_images_after_the_scanned_ones(api, key) -> None:
    folder = f"det-{uuid.uuid4().hex[:8]}"
    scanned_image = {
        "id": 31,
        "localPath": "/files/p.png",
        "thumbPath": "/files/thumbs/p.webp",
        "width": 8,
        "height": 8,
        "nsfwLevel": 1,
        "prompt": "scanned",
        "generationParams": {},
        "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
        "sortOrder": 0,
        "isUserUpload": False,
    }
    from tests.integration.library_records import scan

    version = {**scan()["versions"][0], "images": [scanned_image]}
    model = put(f"LoRA/{folder}/m.safetensors", category="LoRA", versions=[version])
    notes.put(model, "my notes")
    image_id = records.derive_id("image", folder)
    db().collection(records.IMAGES).document(str(image_id)).set(
        {
            "id": image_id,
            "modelId": model,
            "object": f"uploads/{model}/u.png",
            "thumb": f"thumbs/upload_{model}_u.webp",
            "width": 4,
            "height": 4,
            "nsfwLevel": 0,
            "prompt": "mine",
            "generationParams": {"seed": 1},
            "sortOrder": 0,
            "createdAt": dt.datetime.now(dt.UTC),
        }
    )
    body = httpx.get(f"{api}/models/{model}", headers=key).json()
    assert body["id"] == model and body["notes"] == "my notes"
    assert body["filePath"] == f"/models/LoRA/{folder}/m.safetensors"
    assert body["fileSize"] == 1234 and body["trainedWords"] == ["trigger"]
    assert not {"path", "scan", "user", "facets", "name_lower", "added_at"} & set(body)
    images = body["versions"][0]["images"]
    assert [i["id"] for i in images] == [31, image_id]
    assert [i["isUserUpload"] for i in images] == [False, True]
    assert images[1]["localPath"] == f"/files/uploads/{model}/u.png"
    assert body["versions"][0]["files"][0]["format"] == "SafeTensor"


@pytest.mark.parametrize("raw", ["abc", "0", "-1", str(1 << 52), "1e3", "١٢"])
def test_a_bad_model_id_is_a_400(api, key, raw: str) -> None:
    for path in (f"/models/{raw}", f"/models/{raw}/download"):
        response = httpx.get(f"{api}{path}", headers=key)
        assert response.status_code == 400
        assert response.json() == {"error": "Invalid model ID"}


def test_a_missing_model_is_a_404(api, key) -> None:
    for path in ("/models/12345", "/models/12345/download"):
        response = httpx.get(f"{api}{path}", headers=key)
        assert response.status_code == 404 and response.json()["error"]


def _upload(path: str, data: bytes) -> None:
    storage.bucket().blob(f"{records.models_root()}/{path}").upload_from_string(data)


def test_download_streams_the_file_byte_identical_with_the_documented_headers(api, key) -> None:
    path = f"dl-{uuid.uuid4().hex[:8]}/model file.safetensors"
    data = bytes(range(256)) * 5000  # 1.28 MB
    _upload(path, data)
    model = put(path)
    response = httpx.get(f"{api}/models/{model}/download", headers=key)
    assert response.status_code == 200 and response.content == data
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert (
        response.headers["Content-Disposition"] == 'attachment; filename="model file.safetensors"'
    )
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=100-199", 100, 200),
        ("bytes=1000-", 1000, 1500),
        ("bytes=-10", 1490, 1500),
        ("bytes=1400-99999", 1400, 1500),
    ],
)
def test_a_range_gets_206_with_exactly_that_slice(api, key, header, start, stop) -> None:
    path = f"rg-{uuid.uuid4().hex[:8]}/m.safetensors"
    data = bytes(i * 7 % 251 for i in range(1500))
    _upload(path, data)
    model = put(path)
    response = httpx.get(f"{api}/models/{model}/download", headers={**key, "Range": header})
    assert response.status_code == 206
    assert response.content == data[start:stop]
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/1500"
    assert response.headers["Content-Length"] == str(stop - start)


def test_an_unsatisfiable_range_is_416_and_several_ranges_get_the_whole_file(api, key) -> None:
    path = f"rg-{uuid.uuid4().hex[:8]}/m.safetensors"
    _upload(path, b"0123456789")
    model = put(path)
    url = f"{api}/models/{model}/download"
    response = httpx.get(url, headers={**key, "Range": "bytes=10-"})
    assert response.status_code == 416 and response.json()["error"]
    assert response.headers["Content-Range"] == "bytes */10"
    several = httpx.get(url, headers={**key, "Range": "bytes=0-1,4-5"})
    assert several.status_code == 200 and several.content == b"0123456789"


def test_a_non_ascii_file_name_gets_an_ascii_fallback_and_filename_star(api, key) -> None:
    path = f'na-{uuid.uuid4().hex[:8]}/café "x".safetensors'
    _upload(path, b"abc")
    model = put(path)
    response = httpx.get(f"{api}/models/{model}/download", headers=key)
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="cafe \\"x\\".safetensors"; '
        "filename*=UTF-8''caf%C3%A9%20%22x%22.safetensors"
    )


@pytest.mark.parametrize(
    "escape", ["../{secret}", "/{secret}", "a/../../{secret}", "./../{secret}"]
)
def test_a_path_outside_the_models_root_is_403_and_nothing_is_read(api, key, escape) -> None:
    # The object exists where a naive join would land: serving it would leak its bytes.
    secret = f"secret-{uuid.uuid4().hex[:8]}"
    storage.bucket().blob(secret).upload_from_string(b"TOP SECRET")
    storage.bucket().blob(f"{records.models_root()}/{secret}").upload_from_string(b"TOP SECRET")
    model = put(escape.format(secret=secret))
    response = httpx.get(f"{api}/models/{model}/download", headers=key)
    assert response.status_code == 403
    assert response.json() == {"error": "File path outside allowed directory"}


def test_a_model_whose_file_is_gone_is_a_404(api, key) -> None:
    model = put(f"gone-{uuid.uuid4().hex[:8]}/m.safetensors")
    response = httpx.get(f"{api}/models/{model}/download", headers=key)
    assert response.status_code == 404 and response.json()["error"]
