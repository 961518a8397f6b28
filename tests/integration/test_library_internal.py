"""The web UI's internal routes: PATCH /api/models/:id (edits and notes) and the user
images of a model (list, upload, patch, delete), against the real stack. Every test makes
its own model under its own category, and counts only that model's documents and objects."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import httpx
import pytest
from google.cloud.firestore_v1.base_query import FieldFilter
from PIL import Image

from shared.engine.store import db
from shared.library import keys, models_store, notes, storage
from shared.library.records import IMAGES
from shared.library.user_images import MAX_UPLOAD_BYTES
from tests.helpers import auth, site_url


@pytest.fixture
def api(stack) -> httpx.Client:
    with httpx.Client(base_url=site_url(stack, "library"), headers=auth(keys.show())) as c:
        yield c


def scan_facts(category: str) -> dict:
    return {
        "name": "Scanned Name",
        "type": "LORA",
        "category": category,
        "subcategory": "sdxl",
        "baseModel": "SDXL 1.0",
        "nsfwLevel": 1,
        "tags": ["style"],
        "stats": {"downloadCount": 3, "thumbsUpCount": 1},
        "hasMetadata": True,
        "versions": [],
    }


def new_model() -> tuple[int, str]:
    category = f"cat-{uuid.uuid4().hex[:10]}"
    path = f"{category}/sdxl/model.safetensors"
    model_id = models_store.put_scanned(
        path=path, scan=scan_facts(category), added_at=dt.datetime.now(dt.UTC)
    )
    return model_id, path


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(out, "PNG")
    return out.getvalue()


def stored(model_id: int) -> tuple[int, list[str]]:
    """(image documents of the model, bucket objects of its uploads and their thumbnails)."""
    query = db().collection(IMAGES).where(filter=FieldFilter("modelId", "==", model_id))
    docs = list(query.stream())
    bucket = storage.bucket()
    objects = [b.name for b in bucket.list_blobs(prefix=f"{storage.UPLOADS}/{model_id}/")]
    objects += [b.name for b in bucket.list_blobs(prefix=f"{storage.THUMBS}/upload_{model_id}_")]
    return len(docs), sorted(objects)


def upload(api: httpx.Client, model_id: int, data: bytes, name: str = "a.png", **fields):
    return api.post(f"/api/models/{model_id}/images", files={"file": (name, data)}, data=fields)


def test_patch_name_and_notes_persist_and_survive_a_rescan(api) -> None:
    model_id, path = new_model()
    response = api.patch(f"/api/models/{model_id}", json={"name": "My Name", "notes": "keep me"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == model_id and body["name"] == "My Name" and body["notes"] == "keep me"
    assert body["type"] == "LORA" and body["baseModel"] == "SDXL 1.0"
    models_store.put_scanned(
        path=path, scan=scan_facts(body["category"]), added_at=dt.datetime.now(dt.UTC)
    )
    assert models_store.get(model_id)["name"] == "My Name"
    assert notes.get(model_id) == "keep me"
    cleared = api.patch(f"/api/models/{model_id}", json={"name": "", "baseModel": "Pony"}).json()
    assert cleared["name"] == "Scanned Name" and cleared["baseModel"] == "Pony"
    assert cleared["notes"] == "keep me"


def test_edits_show_in_the_public_model_detail(api) -> None:
    pytest.importorskip("shared.library.views", reason="GET /api/v1/models/:id is wt-api's")
    model_id, _ = new_model()
    api.patch(f"/api/models/{model_id}", json={"name": "Shown", "notes": "seen"})
    detail = api.get(f"/api/v1/models/{model_id}").json()
    assert detail["name"] == "Shown" and detail["notes"] == "seen"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": 5}, 400),
        ({"notes": ["x"]}, 400),
        ({"rating": 5}, 400),
        ({"name": "x" * 201}, 400),
        ([], 400),
    ],
)
def test_patch_model_refuses_bad_bodies_and_changes_nothing(api, body, status) -> None:
    model_id, _ = new_model()
    response = api.patch(f"/api/models/{model_id}", json=body)
    assert response.status_code == status and "error" in response.json()
    assert models_store.get(model_id)["name"] == "Scanned Name"
    assert notes.get(model_id) is None


def test_patch_model_bad_and_missing_ids(api) -> None:
    assert api.patch("/api/models/abc", json={}).json() == {"error": "Invalid model ID"}
    assert api.patch("/api/models/0", json={}).status_code == 400
    missing = api.patch("/api/models/12345", json={"notes": "x"})
    assert missing.status_code == 404 and missing.json() == {"error": "Model not found"}
    assert notes.get(12345) is None
    assert api.get("/api/models/12345/images").status_code == 404


def test_upload_png_is_created_listed_and_stored(api) -> None:
    model_id, _ = new_model()
    loras = json.dumps([{"name": "detail", "strength": 0.8}])
    response = upload(
        api,
        model_id,
        png(),
        prompt="a cat",
        negativePrompt="blurry",
        seed="12345",
        steps="20",
        cfgScale="7.5",
        sampler="Euler a",
        scheduler="Karras",
        nsfwLevel="1",
        loras=loras,
        comfyWorkflow='{"nodes": [], "__weird__": {"": 1}}',
    )
    assert response.status_code == 201, response.text
    image = response.json()
    assert image["modelId"] == model_id and (image["width"], image["height"]) == (40, 30)
    assert image["prompt"] == "a cat" and image["nsfwLevel"] == 1
    assert image["generationParams"] == {
        "seed": 12345,
        "steps": 20,
        "cfgScale": 7.5,
        "sampler": "Euler a",
        "scheduler": "Karras",
        "negativePrompt": "blurry",
        "loras": [{"name": "detail", "strength": 0.8}],
        "comfyWorkflow": {"nodes": [], "__weird__": {"": 1}},
    }
    assert image["localPath"].startswith(f"/files/uploads/{model_id}/")
    assert image["localPath"].endswith(".png")
    assert image["thumbPath"].startswith(f"/files/thumbs/upload_{model_id}_")
    assert api.get(f"/api/models/{model_id}/images").json() == [image]
    count, objects = stored(model_id)
    assert count == 1 and len(objects) == 2
    data = storage.bucket().blob(image["localPath"].removeprefix("/files/")).download_as_bytes()
    assert data == png()


def test_upload_of_50_mb_plus_one_byte_is_413_and_stores_nothing(api) -> None:
    model_id, _ = new_model()
    big = png() + b"\0" * (MAX_UPLOAD_BYTES + 1 - len(png()))
    response = upload(api, model_id, big, prompt="too big")
    assert response.status_code == 413 and "error" in response.json()
    assert stored(model_id) == (0, [])
    exactly = upload(api, model_id, png() + b"\0" * (MAX_UPLOAD_BYTES - len(png())))
    assert exactly.status_code == 201, exactly.text


def test_text_file_named_png_is_400_and_stores_nothing(api) -> None:
    model_id, _ = new_model()
    response = upload(api, model_id, b"just some text, not an image\n", name="cat.png")
    assert response.status_code == 400 and response.json() == {"error": "File is not a valid image"}
    assert stored(model_id) == (0, [])


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"loras": "not json"}, "loras"),
        ({"loras": '{"name": "x"}'}, "loras"),
        ({"loras": '[{"name": "x", "strength": "high"}]'}, "loras"),
        ({"comfyWorkflow": "[1, 2]"}, "comfyWorkflow"),
        ({"comfyWorkflow": "{oops"}, "comfyWorkflow"),
        ({"seed": "12.5"}, "seed"),
        ({"steps": "many"}, "steps"),
        ({"cfgScale": "inf"}, "cfgScale"),
        ({"nsfwLevel": "4"}, "nsfwLevel"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_malformed_generation_fields_are_400_naming_the_field(api, fields, named) -> None:
    model_id, _ = new_model()
    response = upload(api, model_id, png(), **fields)
    assert response.status_code == 400, response.text
    assert named in response.json()["error"]
    assert stored(model_id) == (0, [])


def test_upload_needs_multipart_with_one_file(api) -> None:
    model_id, _ = new_model()
    # A text part only: multipart, but no file.
    no_file = api.post(f"/api/models/{model_id}/images", files={"prompt": (None, "x")})
    assert no_file.status_code == 400 and "file" in no_file.json()["error"]
    as_json = api.post(f"/api/models/{model_id}/images", json={"prompt": "x"})
    assert as_json.json() == {"error": "Request must be multipart/form-data"}
    pair = [("file", ("a.png", png())), ("file", ("b.png", png()))]
    two = api.post(f"/api/models/{model_id}/images", files=pair)
    assert two.status_code == 400 and "file" in two.json()["error"]
    missing = upload(api, 98765, png())
    assert missing.status_code == 404 and stored(98765) == (0, [])
    assert stored(model_id) == (0, [])


def test_patch_and_delete_image_and_other_models_cannot_reach_it(api) -> None:
    model_id, _ = new_model()
    other_id, _ = new_model()
    image = upload(api, model_id, png(), prompt="first").json()
    url = f"/api/models/{model_id}/images/{image['id']}"
    patched = api.patch(
        url,
        json={
            "prompt": "second",
            "nsfwLevel": 2,
            "sortOrder": 5,
            "generationParams": {"seed": 7, "loras": [{"name": "l", "strength": 1}]},
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json() == {
        **image,
        "prompt": "second",
        "nsfwLevel": 2,
        "sortOrder": 5,
        "generationParams": {"seed": 7, "loras": [{"name": "l", "strength": 1.0}]},
    }
    bad = api.patch(url, json={"nsfwLevel": 9})
    assert bad.status_code == 400 and "nsfwLevel" in bad.json()["error"]
    assert api.patch(url, json={"generationParams": {"seed": "x"}}).status_code == 400
    assert api.get(f"/api/models/{model_id}/images").json() == [patched.json()]
    foreign = f"/api/models/{other_id}/images/{image['id']}"
    assert api.patch(foreign, json={"prompt": "x"}).status_code == 404
    assert api.delete(foreign).status_code == 404
    assert api.delete(f"/api/models/{model_id}/images/abc").status_code == 400
    assert stored(model_id)[0] == 1
    deleted = api.delete(url)
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    assert stored(model_id) == (0, [])
    assert api.delete(url).status_code == 404
    assert api.get(f"/api/models/{model_id}/images").json() == []


def test_rescan_keeps_uploaded_images_and_notes(api) -> None:
    model_id, path = new_model()
    api.patch(f"/api/models/{model_id}", json={"notes": "mine"})
    image = upload(api, model_id, png()).json()
    models_store.put_scanned(
        path=path,
        scan={**scan_facts(models_store.get(model_id)["category"]), "name": "Rescanned"},
        added_at=dt.datetime.now(dt.UTC),
    )
    assert api.get(f"/api/models/{model_id}/images").json() == [image]
    assert notes.get(model_id) == "mine"
    assert models_store.get(model_id)["name"] == "Rescanned"
