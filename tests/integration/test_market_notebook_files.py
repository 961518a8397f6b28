"""Tarsify's deprecated notebook files: upload validation (nothing stored on refusal), the
exact bytes back on download, replacement, and races between file changes and publishing.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.market_helpers import Client, data, error_code
from tests.notebook_helpers import (
    MARKET,
    NOTEBOOK,
    STUDIO,
    create,
    developer,
    notebook_bytes,
    ready,
    stored_objects,
    upload,
)


def test_file_delete_and_replace_keep_one_object(stack: Any) -> None:
    client, _ = developer(stack)
    nb_id = create(client)["id"]
    assert error_code(client.delete(f"{STUDIO}/{nb_id}/file")) == "ERR_3001"
    assert error_code(client.get(f"{STUDIO}/{nb_id}/file")) == "ERR_3001"
    data(upload(client, nb_id))
    second = notebook_bytes(code_cells=3)
    data(upload(client, nb_id, second))
    assert len(stored_objects(nb_id)) == 1
    assert client.get(f"{STUDIO}/{nb_id}/file").content == second
    deleted = data(client.delete(f"{STUDIO}/{nb_id}/file"))
    assert deleted == {
        "id": nb_id,
        "notebookFileUrl": None,
        "message": "Notebook file deleted successfully",
    }
    assert stored_objects(nb_id) == []
    assert data(client.get(f"{STUDIO}/{nb_id}"))["notebookFileUrl"] is None
    assert error_code(client.get(f"{STUDIO}/{nb_id}/file")) == "ERR_3001"


TOO_LARGE = notebook_bytes(padding=10 * 1024 * 1024)
INVALID_UPLOADS = {
    "wrong_extension": ("notebook.py", NOTEBOOK, "only .ipynb"),
    "not_json": ("nb.ipynb", b"{not json", "not valid JSON"),
    "json_not_a_notebook": ("nb.ipynb", b'{"hello": "world"}', "nbformat"),
    "json_array": ("nb.ipynb", b"[1, 2]", "JSON object"),
    "nbformat_3": ("nb.ipynb", b'{"nbformat": 3, "metadata": {}, "worksheets": []}', "4"),
    "schema_invalid": (
        "nb.ipynb",
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {},
                "cells": [{"cell_type": "code", "id": "a", "source": 42}],
            }
        ).encode(),
        "Invalid notebook structure",
    ),
    "no_code_cell": ("nb.ipynb", notebook_bytes(code_cells=0), "no code cell"),
    "no_metadata": (
        "nb.ipynb",
        b'{"nbformat": 4, "nbformat_minor": 5, "cells": []}',
        "metadata",
    ),
    "too_large": ("nb.ipynb", TOO_LARGE, "File too large (max 10MB)"),
}


@pytest.mark.parametrize("case", sorted(INVALID_UPLOADS))
def test_invalid_uploads_are_refused_and_nothing_is_stored(stack: Any, case: str) -> None:
    client, _ = developer(stack)
    nb_id = create(client)["id"]
    name, content, reason = INVALID_UPLOADS[case]
    response = upload(client, nb_id, content, name)
    assert response.status_code == 400, response.text
    assert error_code(response) == "ERR_2001"
    assert reason in response.json()["error"]["message"]
    assert stored_objects(nb_id) == []
    assert data(client.get(f"{STUDIO}/{nb_id}"))["notebookFileUrl"] is None


def test_upload_needs_a_multipart_file_field(stack: Any) -> None:
    client, _ = developer(stack)
    nb_id = create(client)["id"]
    as_json = client.post(f"{STUDIO}/{nb_id}/file", json={"file": "x"})
    assert error_code(as_json) == "ERR_2001"
    other_field = client.post(f"{STUDIO}/{nb_id}/file", files={"notebook": ("a.ipynb", NOTEBOOK)})
    assert error_code(other_field) == "ERR_2004"
    assert stored_objects(nb_id) == []


def test_upload_of_exactly_ten_mebibytes_is_accepted(stack: Any) -> None:
    client, _ = developer(stack)
    nb_id = create(client)["id"]
    content = notebook_bytes()
    content = content[:-1] + b" " * (10 * 1024 * 1024 - len(content)) + content[-1:]
    assert len(content) == 10 * 1024 * 1024
    data(upload(client, nb_id, content))
    assert client.get(f"{STUDIO}/{nb_id}/file").content == content


def test_a_body_over_the_function_limit_is_err_2001(stack: Any) -> None:
    client, _ = developer(stack)
    nb_id = create(client)["id"]
    response = upload(client, nb_id, b" " * (12 * 1024 * 1024))
    assert response.status_code == 400 and error_code(response) == "ERR_2001"
    assert stored_objects(nb_id) == []


def _call(client: Client, results: dict[str, int], name: str, method: str, url: str) -> None:
    results[name] = client.request(method, url).status_code


def test_racing_publish_and_file_delete_never_leave_a_published_notebook_without_a_file(
    stack: Any,
) -> None:
    client, _ = developer(stack)
    for _ in range(4):
        nb = ready(client)
        path = f"{STUDIO}/{nb['id']}"
        results: dict[str, int] = {}

        threads = [
            threading.Thread(
                target=_call, args=(client, results, "publish", "POST", f"{path}/publish")
            ),
            threading.Thread(
                target=_call, args=(client, results, "delete", "DELETE", f"{path}/file")
            ),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        detail = data(client.get(path))
        objects = stored_objects(nb["id"])
        if detail["status"] == "published":
            assert results == {"publish": 200, "delete": 400}
            assert detail["notebookFileUrl"] and len(objects) == 1
        else:
            assert results == {"publish": 422, "delete": 200}
            assert detail["notebookFileUrl"] is None and objects == []


def test_racing_uploads_leave_exactly_the_attached_object(stack: Any) -> None:
    client, _ = developer(stack)
    nb_id = create(client)["id"]
    contents = [notebook_bytes(code_cells=n) for n in range(1, 5)]
    statuses: list[int] = []

    def send(content: bytes) -> None:
        statuses.append(upload(client, nb_id, content).status_code)

    threads = [threading.Thread(target=send, args=(content,)) for content in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 200 in statuses and set(statuses) <= {200, 409}
    assert len(stored_objects(nb_id)) == 1
    assert client.get(f"{STUDIO}/{nb_id}/file").content in contents


HOSTILE_BODIES = [
    b"",
    b"{",
    b"[" * 5000 + b"]" * 5000,
    b"\xff\xfe\x00",
    b'{"title": {"__x__": 1}, "priceCredits": 1e400}',
    b'{"title": "Fine title", "priceCredits": "10", "category": null, "gpuType": 4}',
    b'{"title": "Fine title", "thumbnailUrl": "https://' + b"a" * 5000 + b'.com"}',
    b'{"title": "\\u0000\\ud800 title"}',
]
HOSTILE_QUERIES = [
    {"page": "9" * 40},
    {"limit": "1e9"},
    {"sort": "\x00"},
    {"search": "é" * 300},
    {"status": "[]"},
    {"category": "__x__"},
]


def test_hostile_input_never_answers_a_5xx(stack: Any) -> None:
    client, _ = developer(stack)
    nb_id = ready(client)["id"]
    routes = [
        ("GET", STUDIO),
        ("POST", STUDIO),
        ("GET", f"{STUDIO}/{nb_id}"),
        ("PUT", f"{STUDIO}/{nb_id}"),
        ("POST", f"{STUDIO}/{nb_id}/file"),
        ("POST", f"{STUDIO}/{nb_id}/publish"),
        ("GET", MARKET),
        ("GET", f"{MARKET}/{'x' * 300}"),
        ("GET", f"{STUDIO}/{'é' * 200}"),
    ]
    for method, path in routes:
        for content in HOSTILE_BODIES if method != "GET" else []:
            for content_type in ("application/json", "multipart/form-data; boundary=x"):
                response = client.request(
                    method, path, content=content, headers={"Content-Type": content_type}
                )
                assert response.status_code < 500, (method, path, content[:60], response.text)
                assert response.status_code != 429  # the test stays inside its rate window
        for params in HOSTILE_QUERIES if method == "GET" else []:
            response = client.request(method, path, params=params)
            assert response.status_code < 500, (method, path, params, response.text)
    detail = data(client.get(f"{STUDIO}/{nb_id}"))
    assert client.get(f"{STUDIO}/{nb_id}/file").content == NOTEBOOK
    assert detail["status"] in ("draft", "published")
