"""Tarsify's deprecated notebook endpoints, driven as a studio and a marketplace client would:
lifecycle, ownership, validation, lists and the deprecation headers.

Each test makes its own developers (fresh emails) and notebooks (titles with a unique word),
so lists and slugs never meet another test's data.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.engine import store
from shared.market import notebooks
from tests.market_helpers import Client, data, error_code
from tests.notebook_helpers import (
    MARKET,
    NOTEBOOK,
    STUDIO,
    assert_deprecated,
    create,
    developer,
    notebook_bytes,
    ready,
    stored_objects,
    upload,
)


def test_create_returns_a_draft_with_a_slug_from_the_title(stack: Any) -> None:
    client, _ = developer(stack)
    word = uuid.uuid4().hex[:8]
    first = create(client, title=f"AI Image Upscaler {word}")
    assert first["slug"] == f"ai-image-upscaler-{word}"
    assert first["status"] == "draft"
    assert first["notebookFileUrl"] is None
    assert first["createdAt"].endswith("Z")
    assert set(first) == {"id", "title", "slug", "status", "notebookFileUrl", "createdAt"}
    second = create(client, title=f"AI image upscaler! {word}")
    third = create(client, title=f"AI image upscaler? {word}")
    assert second["slug"] == f"ai-image-upscaler-{word}-2"
    assert third["slug"] == f"ai-image-upscaler-{word}-3"


def test_create_refuses_bad_bodies_and_defaults_gpu_and_price(stack: Any) -> None:
    client, _ = developer(stack)
    assert error_code(client.post(STUDIO, json={"description": "no title"})) == "ERR_2004"
    for bad in (
        {"title": "ab"},
        {"title": "x" * 101},
        {"title": "Fine title", "gpuType": "H100"},
        {"title": "Fine title", "priceCredits": 10_001},
        {"title": "Fine title", "priceCredits": -1},
        {"title": "Fine title", "category": "SPORTS"},
        {"title": "Fine title", "shortDescription": "s" * 201},
        {"title": "Fine title", "unknown": 1},
    ):
        response = client.post(STUDIO, json=bad)
        assert response.status_code == 400 and error_code(response) == "ERR_2001", bad
    nb = create(client, category="IMAGE_PROCESSING")
    detail = data(client.get(f"{STUDIO}/{nb['id']}"))
    assert detail["gpuType"] == "T4" and detail["priceCredits"] == 0
    assert detail["category"] == "IMAGE_PROCESSING"
    assert detail["inputSchema"] is None and detail["outputSchema"] is None
    assert detail["runCount"] == 0 and detail["rating"] is None and detail["ratingCount"] == 0
    assert detail["totalEarnings"] == 0 and detail["publishedAt"] is None


def test_full_lifecycle_upload_download_publish_unpublish_archive(stack: Any) -> None:
    client, _ = developer(stack)
    nb = create(client, description="Upscale images", shortDescription="4x", gpuType="A10G")
    nb_id = nb["id"]

    uploaded = data(upload(client, nb_id))
    assert uploaded == {
        "id": nb_id,
        "notebookFileUrl": f"{STUDIO}/{nb_id}/file",
        "message": "Notebook file uploaded successfully",
    }
    download = client.get(f"{STUDIO}/{nb_id}/file")
    assert download.status_code == 200
    assert download.content == NOTEBOOK
    assert download.headers["Content-Type"] == "application/x-ipynb+json"
    assert download.headers["Content-Disposition"] == f'attachment; filename="{nb["slug"]}.ipynb"'

    updated = data(
        client.put(f"{STUDIO}/{nb_id}", json={"title": "Upscaler Pro", "priceCredits": 7})
    )
    assert updated["id"] == nb_id and updated["title"] == "Upscaler Pro"
    assert updated["updatedAt"].endswith("Z")

    published = data(client.post(f"{STUDIO}/{nb_id}/publish"))
    assert published["status"] == "published" and published["slug"] == nb["slug"]
    assert published["publishedAt"].endswith("Z")
    assert published["message"] == "Notebook published successfully"

    shown = data(Client(client.base).get(f"{MARKET}/{nb['slug']}"))
    assert shown["title"] == "Upscaler Pro" and shown["priceCredits"] == 7
    assert shown["gpuType"] == "A10G" and "notebookFileUrl" not in shown

    unpublished = data(client.post(f"{STUDIO}/{nb_id}/unpublish"))
    assert unpublished == {"id": nb_id, "status": "draft", "message": "Notebook unpublished"}
    assert error_code(Client(client.base).get(f"{MARKET}/{nb['slug']}")) == "ERR_4003"

    data(client.post(f"{STUDIO}/{nb_id}/publish"))
    archived = data(client.delete(f"{STUDIO}/{nb_id}"))
    assert archived == {
        "id": nb_id,
        "status": "archived",
        "message": "Notebook archived successfully",
    }
    detail = data(client.get(f"{STUDIO}/{nb_id}"))
    assert detail["status"] == "archived"
    assert client.get(f"{STUDIO}/{nb_id}/file").content == NOTEBOOK  # the owner keeps it
    assert data(client.delete(f"{STUDIO}/{nb_id}"))["status"] == "archived"  # idempotent
    assert error_code(client.put(f"{STUDIO}/{nb_id}", json={"title": "Again"})) == "ERR_3004"
    assert error_code(client.post(f"{STUDIO}/{nb_id}/publish")) == "ERR_3004"
    assert error_code(Client(client.base).get(f"{MARKET}/{nb['slug']}")) == "ERR_4003"


def test_deleting_a_draft_removes_record_file_and_slug(stack: Any) -> None:
    client, _ = developer(stack)
    title = f"Draft To Delete {uuid.uuid4().hex[:8]}"
    nb = create(client, title=title)
    data(upload(client, nb["id"]))
    assert len(stored_objects(nb["id"])) == 1
    deleted = data(client.delete(f"{STUDIO}/{nb['id']}"))
    assert deleted == {
        "id": nb["id"],
        "status": "deleted",
        "message": "Notebook deleted successfully",
    }
    assert stored_objects(nb["id"]) == []
    assert error_code(client.get(f"{STUDIO}/{nb['id']}")) == "ERR_3001"
    assert error_code(client.delete(f"{STUDIO}/{nb['id']}")) == "ERR_3001"
    assert create(client, title=title)["slug"] == nb["slug"]  # the slug was released


def test_another_developers_notebook_is_not_found_on_every_route(stack: Any) -> None:
    owner, _ = developer(stack)
    other, _ = developer(stack)
    nb = ready(owner)
    path = f"{STUDIO}/{nb['id']}"
    attempts = [
        other.get(path),
        other.put(path, json={"title": "Stolen title"}),
        other.delete(path),
        upload(other, nb["id"]),
        other.get(f"{path}/file"),
        other.delete(f"{path}/file"),
        other.post(f"{path}/publish"),
        other.post(f"{path}/unpublish"),
    ]
    for response in attempts:
        assert response.status_code == 404, response.request.url
        assert error_code(response) == "ERR_3001"
    assert nb["id"] not in [n["id"] for n in data(other.get(STUDIO))]
    detail = data(owner.get(path))
    assert detail["title"] == nb["title"] and detail["status"] == "draft"
    assert owner.get(f"{path}/file").content == NOTEBOOK


def test_unregistered_and_anonymous_callers_are_refused(stack: Any) -> None:
    owner, _ = developer(stack)
    nb_id = create(owner)["id"]
    stranger, _ = developer(stack, registered=False)
    assert error_code(stranger.get(STUDIO)) == "ERR_1004"
    assert error_code(stranger.post(STUDIO, json={"title": "Mine now"})) == "ERR_1004"
    assert error_code(stranger.get(f"{STUDIO}/{nb_id}")) == "ERR_1004"
    anonymous = Client(owner.base)
    assert error_code(anonymous.get(STUDIO)) == "ERR_1001"
    assert error_code(anonymous.post(f"{STUDIO}/{nb_id}/publish")) == "ERR_1001"


def test_bad_ids_are_err_2003(stack: Any) -> None:
    client, _ = developer(stack)
    for response in (
        client.get(f"{STUDIO}/not-a-uuid"),
        client.put(f"{STUDIO}/not-a-uuid", json={"title": "Whatever"}),
        client.get(f"{STUDIO}/not-a-uuid/file"),
        client.post(f"{STUDIO}/not-a-uuid/publish"),
        Client(client.base).get(f"{MARKET}/Not_A_Slug"),
    ):
        assert response.status_code == 400 and error_code(response) == "ERR_2003"


def test_published_notebook_keeps_gpu_price_and_file(stack: Any) -> None:
    client, _ = developer(stack)
    nb = ready(client, gpuType="A100", priceCredits=25)
    path = f"{STUDIO}/{nb['id']}"
    data(client.post(f"{path}/publish"))
    for change in ({"gpuType": "T4"}, {"priceCredits": 26}, {"shortDescription": None}):
        response = client.put(path, json=change)
        assert response.status_code == 400 and error_code(response) == "ERR_4004", change
    assert error_code(upload(client, nb["id"], notebook_bytes(code_cells=2))) == "ERR_4004"
    assert error_code(client.delete(f"{path}/file")) == "ERR_4004"
    same = {"gpuType": "A100", "priceCredits": 25, "title": "Renamed while published"}
    assert data(client.put(path, json=same))["title"] == "Renamed while published"
    detail = data(client.get(path))
    assert (detail["gpuType"], detail["priceCredits"]) == ("A100", 25)
    assert detail["shortDescription"] == "4x" and detail["slug"] == nb["slug"]
    assert client.get(f"{path}/file").content == NOTEBOOK
    assert len(stored_objects(nb["id"])) == 1


def test_update_validates_fields(stack: Any) -> None:
    client, _ = developer(stack)
    path = f"{STUDIO}/{create(client)['id']}"
    for bad in (
        {"title": "ab"},
        {"title": None},
        {"thumbnailUrl": "ftp://example.com/a.png"},
        {"thumbnailUrl": "not a url"},
        {"category": "SPORTS"},
        {"status": "published"},
        {"slug": "mine"},
    ):
        response = client.put(path, json=bad)
        assert response.status_code == 400 and error_code(response) == "ERR_2001", bad
    changed = {
        "description": "Longer",
        "shortDescription": "Short",
        "thumbnailUrl": "https://example.com/thumb.png",
        "category": "AUDIO",
        "gpuType": "A10G",
    }
    data(client.put(path, json=changed))
    detail = data(client.get(path))
    assert {k: detail[k] for k in changed} == changed
    data(client.put(path, json={"thumbnailUrl": None}))
    assert data(client.get(path))["thumbnailUrl"] is None


def test_publish_and_unpublish_preconditions(stack: Any) -> None:
    client, _ = developer(stack)
    bare = create(client)
    response = client.post(f"{STUDIO}/{bare['id']}/publish")
    assert response.status_code == 422 and error_code(response) == "ERR_3004"
    missing = response.json()["error"]["details"]["missing"]
    assert missing == ["description", "shortDescription", "file"]

    no_file = create(client, description="d", shortDescription="s")
    response = client.post(f"{STUDIO}/{no_file['id']}/publish")
    assert error_code(response) == "ERR_3004"
    assert response.json()["error"]["message"] == "Missing notebook file"
    assert response.json()["error"]["details"]["missing"] == ["file"]

    response = client.post(f"{STUDIO}/{no_file['id']}/unpublish")
    assert response.status_code == 422 and error_code(response) == "ERR_3004"

    nb = ready(client)
    data(client.post(f"{STUDIO}/{nb['id']}/publish"))
    assert error_code(client.post(f"{STUDIO}/{nb['id']}/publish")) == "ERR_3004"
    assert data(client.get(f"{STUDIO}/{bare['id']}"))["status"] == "draft"


def test_marketplace_shows_only_published_notebooks(stack: Any) -> None:
    client, _ = developer(stack)
    word = uuid.uuid4().hex[:8]
    image = ready(client, title=f"Image {word}", category="IMAGE_PROCESSING")
    audio = ready(client, title=f"Audio {word}", category="AUDIO")
    draft = ready(client, title=f"Draft {word}", category="IMAGE")
    for nb in (image, audio):
        data(client.post(f"{STUDIO}/{nb['id']}/publish"))
    visitor = Client(client.base)
    listed = visitor.get(MARKET, params={"search": word})
    assert [n["slug"] for n in data(listed)] == [audio["slug"], image["slug"]]
    assert listed.json()["meta"] == {"page": 1, "limit": 20, "total": 2, "totalPages": 1}
    images = data(visitor.get(MARKET, params={"search": word, "category": "IMAGE"}))
    assert [n["slug"] for n in images] == [image["slug"]]
    paged = visitor.get(MARKET, params={"search": word, "limit": 1, "page": 2})
    assert [n["slug"] for n in data(paged)] == [image["slug"]]
    assert paged.json()["meta"]["totalPages"] == 2

    unpublished = visitor.get(f"{MARKET}/{draft['slug']}")
    assert unpublished.status_code == 400 and error_code(unpublished) == "ERR_4003"
    unknown = visitor.get(f"{MARKET}/no-such-notebook-{word}")
    assert unknown.status_code == 404 and error_code(unknown) == "ERR_3001"
    for bad in ({"limit": "0"}, {"limit": "101"}, {"page": "0"}, {"category": "SPORTS"}):
        assert error_code(visitor.get(MARKET, params=bad)) == "ERR_2002", bad


def test_studio_list_filters_sorts_searches_and_pages(stack: Any) -> None:
    client, _ = developer(stack)
    word = uuid.uuid4().hex[:8]
    b = create(client, title=f"Bravo {word}")
    a = create(client, title=f"alpha {word}", description="mentions zebra")
    c = ready(client, title=f"Charlie {word}")
    data(client.post(f"{STUDIO}/{c['id']}/publish"))

    listed = client.get(STUDIO)
    assert [n["id"] for n in data(listed)] == [c["id"], a["id"], b["id"]]  # -createdAt
    assert listed.json()["meta"] == {"page": 1, "limit": 20, "total": 3, "totalPages": 1}
    item = data(listed)[0]
    assert item["status"] == "published" and item["notebookFileUrl"] == f"{STUDIO}/{c['id']}/file"
    assert item["runCount"] == 0 and item["rating"] is None and item["totalEarnings"] == 0
    assert data(listed)[1]["notebookFileUrl"] is None

    by_title = data(client.get(STUDIO, params={"sort": "title"}))
    assert [n["id"] for n in by_title] == [a["id"], b["id"], c["id"]]
    by_title_desc = data(client.get(STUDIO, params={"sort": "-title"}))
    assert [n["id"] for n in by_title_desc] == [c["id"], b["id"], a["id"]]
    assert [n["id"] for n in data(client.get(STUDIO, params={"status": "draft"}))] == [
        a["id"],
        b["id"],
    ]
    assert [n["id"] for n in data(client.get(STUDIO, params={"search": "ZEBRA"}))] == [a["id"]]
    second = client.get(STUDIO, params={"limit": 2, "page": 2, "sort": "createdAt"})
    assert [n["id"] for n in data(second)] == [c["id"]]
    assert second.json()["meta"] == {"page": 2, "limit": 2, "total": 3, "totalPages": 2}
    for bad in (
        {"limit": "0"},
        {"limit": "101"},
        {"page": "0"},
        {"page": "x"},
        {"sort": "price"},
        {"sort": "-rating"},
        {"status": "deleted"},
    ):
        response = client.get(STUDIO, params=bad)
        assert response.status_code == 400 and error_code(response) == "ERR_2002", bad


def test_every_response_is_marked_deprecated(stack: Any) -> None:
    client, _ = developer(stack)
    nb = ready(client)
    studio_responses = [
        client.get(STUDIO),
        client.get(f"{STUDIO}/{nb['id']}"),
        client.get(f"{STUDIO}/{nb['id']}/file"),
        client.post(f"{STUDIO}/{nb['id']}/unpublish"),  # an error
        client.get(f"{STUDIO}/not-a-uuid"),
        client.request("PATCH", f"{STUDIO}/{nb['id']}"),  # a method no route has
        Client(client.base).get(STUDIO),  # unauthenticated
        client.get(f"{STUDIO}/{nb['id']}/nothing-here"),
    ]
    for response in studio_responses:
        assert_deprecated(response, "/api/studio/tars-models")
    assert {r.status_code for r in studio_responses} >= {200, 400, 401, 404, 405, 422}
    for response in (Client(client.base).get(MARKET), Client(client.base).get(f"{MARKET}/x-y")):
        assert_deprecated(response, "/api/marketplace/models")
    assert "X-RateLimit-Limit" in studio_responses[0].headers


def test_changes_whose_commit_response_was_lost_are_recognised(stack: Any) -> None:
    client, developer_id = developer(stack)
    title = f"Lost Response {uuid.uuid4().hex[:8]}"
    with store.lose_commit_responses("market.notebook.create"):
        record = notebooks.create(
            developer_id=developer_id,
            body=notebooks.NotebookCreate(title=title, description="d", shortDescription="s"),
        )
    listed = [n for n in data(client.get(STUDIO)) if n["title"] == title]
    assert [n["id"] for n in listed] == [record.id]  # one notebook, the slug's first form
    assert listed[0]["slug"] == notebooks.slugify(title)
    data(upload(client, record.id))
    with store.lose_commit_responses("market.notebook"):
        published = notebooks.publish(developer_id=developer_id, notebook_id=record.id)
    assert published.status is notebooks.NotebookStatus.PUBLISHED
    data(client.post(f"{STUDIO}/{record.id}/unpublish"))
    with store.lose_commit_responses("market.notebook"):
        _, status = notebooks.remove(developer_id=developer_id, notebook_id=record.id)
    assert status is None
    assert error_code(client.get(f"{STUDIO}/{record.id}")) == "ERR_3001"
    assert stored_objects(record.id) == []
