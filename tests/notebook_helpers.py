"""Helpers for the notebook tests: registered developers, notebooks, uploads, stored objects.

A developer is registered by writing its profile straight to Firestore (test setup; the
studio's registration is tested with the studio).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from shared.engine import identity, outputs
from tests.market_helpers import Client, data, id_token, market_api, register_developer

STUDIO = "/api/studio/notebooks"
MARKET = "/api/marketplace/notebooks"


def notebook_bytes(*, code_cells: int = 1, padding: int = 0) -> bytes:
    cells: list[dict[str, Any]] = [
        {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Upscaler"}
    ]
    for n in range(code_cells):
        cells.append(
            {
                "cell_type": "code",
                "id": f"code-{n}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": "print('hello')" + " " * padding,
            }
        )
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": cells,
    }
    return json.dumps(nb, indent=1).encode()


NOTEBOOK = notebook_bytes()


def developer(stack: Any, *, registered: bool = True) -> tuple[Client, str]:
    email, token = id_token()
    account = identity.create_account(email=email)
    if registered:
        register_developer(account.id)
    return Client(market_api(stack), token), account.id


def create(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"title": f"Upscaler {uuid.uuid4().hex[:8]}", **fields}
    return data(client.post(STUDIO, json=body), 201)  # type: ignore[no-any-return]


def upload(
    client: Client, notebook_id: str, content: bytes = NOTEBOOK, name: str = "nb.ipynb"
) -> httpx.Response:
    return client.post(f"{STUDIO}/{notebook_id}/file", files={"file": (name, content)})


def ready(client: Client, **fields: Any) -> dict[str, Any]:
    """A draft with everything publishing needs, file included."""
    nb = create(client, description="Upscale images", shortDescription="4x", **fields)
    data(upload(client, nb["id"]))
    return nb


def stored_objects(notebook_id: str) -> list[str]:
    prefix = f"market/notebooks/{notebook_id}/"
    return [b.name for b in outputs.bucket().list_blobs(prefix=prefix)]


def assert_deprecated(response: httpx.Response, successor: str) -> None:
    assert response.headers["Deprecation"] == "@1771200000"
    assert response.headers["Link"] == f'<{successor}>; rel="successor-version"'
