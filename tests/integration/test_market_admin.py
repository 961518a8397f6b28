"""Tarsify admin API (/api/admin/endpoints, /api/admin/base-models) and `relay market seed`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.engine.store import db
from shared.market import records, seed
from tests.market_helpers import (
    IMAGE_SCHEMA,
    Client,
    api_key_for,
    data,
    error_code,
    id_token,
    market_api,
)

ENDPOINTS = "/api/admin/endpoints"
BASE_MODELS = "/api/admin/base-models"
RELAY = Path(sys.executable).parent / "relay"
ROOT = Path(__file__).resolve().parents[2]


def _admin(stack) -> Client:
    return Client(market_api(stack), id_token(admin=True)[1])


def _runpod_id() -> str:
    return f"ep-{uuid.uuid4().hex[:12]}"


def _endpoint(client: Client, **fields: Any) -> dict[str, Any]:
    payload = {"runpodEndpointId": _runpod_id(), "name": "SDXL", "source": "HUB", **fields}
    return data(client.post(ENDPOINTS, json=payload), 201)


def _base_payload(endpoint_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "endpointId": endpoint_id,
        "slug": f"base-{uuid.uuid4().hex[:10]}",
        "name": "SDXL Text to Image",
        "description": "Images from text",
        "category": "IMAGE",
        "inputSchema": IMAGE_SCHEMA,
        "outputType": "IMAGE",
        "outputFormat": "png",
        "estimatedSeconds": 20,
        "priceCredits": 10,
        **fields,
    }


@pytest.fixture(scope="module")
def hostile_admin(stack) -> tuple[Client, str, str]:
    client = _admin(stack)
    endpoint = _endpoint(client)
    base = data(client.post(BASE_MODELS, json=_base_payload(endpoint["id"])), 201)
    return client, base["id"], endpoint["id"]


def _count(collection: str) -> int:
    return sum(1 for _ in db().collection(collection).stream())


def test_endpoint_crud_round_trip(stack) -> None:
    client = _admin(stack)
    runpod_id = _runpod_id()
    created = data(
        client.post(
            ENDPOINTS,
            json={
                "runpodEndpointId": runpod_id,
                "name": "Custom Model Endpoint",
                "source": "CUSTOM",
                "dockerImage": "runpod/my-model:latest",
                "gpuType": "A100",
            },
        ),
        201,
    )
    assert created["runpodEndpointId"] == runpod_id and created["isActive"] is True
    assert (created["source"], created["gpuType"], created["provider"]) == (
        "CUSTOM",
        "A100",
        "runpod",
    )
    assert created["dockerImage"] == "runpod/my-model:latest"
    assert created["createdAt"].endswith("Z")
    newer = _endpoint(client, provider="modal")
    listed = data(client.get(ENDPOINTS))
    assert [e["id"] for e in listed][:2] == [newer["id"], created["id"]]  # newest first
    path = f"{ENDPOINTS}/{created['id']}"
    updated = data(client.put(path, json={"name": "Renamed", "isActive": False, "gpuType": None}))
    assert (updated["name"], updated["isActive"], updated["gpuType"]) == ("Renamed", False, None)
    assert updated["runpodEndpointId"] == runpod_id and updated["source"] == "CUSTOM"
    moved = data(client.put(path, json={"runpodEndpointId": runpod_id + "-v2"}))
    assert moved["runpodEndpointId"] == runpod_id + "-v2"
    # The old runpodEndpointId is free again, the new one is taken.
    _endpoint(client, runpodEndpointId=runpod_id)
    taken = client.post(
        ENDPOINTS, json={"runpodEndpointId": runpod_id + "-v2", "name": "x", "source": "HUB"}
    )
    assert taken.status_code == 409 and error_code(taken) == "ERR_3002"
    deleted = client.delete(path)
    assert deleted.status_code == 204 and deleted.content == b""
    assert created["id"] not in {e["id"] for e in data(client.get(ENDPOINTS))}
    gone = client.put(path, json={"name": "again"})
    assert gone.status_code == 404 and error_code(gone) == "ERR_3001"
    _endpoint(client, runpodEndpointId=runpod_id + "-v2")  # released by the delete


def test_endpoint_input_is_validated_and_nothing_is_written(stack) -> None:
    client = _admin(stack)
    before = _count(records.ENDPOINTS)
    for bad in (
        {"runpodEndpointId": "has space", "name": "x", "source": "HUB"},
        {"runpodEndpointId": "a" * 129, "name": "x", "source": "HUB"},
        {"runpodEndpointId": _runpod_id(), "name": "x", "source": "ELSEWHERE"},
        {"runpodEndpointId": _runpod_id(), "name": "x", "source": "HUB", "gpuType": "H100"},
        {"runpodEndpointId": _runpod_id(), "name": "x", "source": "HUB", "provider": "aws"},
        {"runpodEndpointId": _runpod_id(), "name": "x", "source": "HUB", "isActive": "yes"},
        {"runpodEndpointId": _runpod_id(), "name": "x", "source": "HUB", "extra": 1},
    ):
        response = client.post(ENDPOINTS, json=bad)
        assert response.status_code == 400 and error_code(response) == "ERR_2001", bad
    missing = client.post(ENDPOINTS, json={"name": "x", "source": "HUB"})
    assert missing.status_code == 400 and error_code(missing) == "ERR_2004"
    assert _count(records.ENDPOINTS) == before
    endpoint = _endpoint(client)
    other = _endpoint(client)
    clash = client.put(
        f"{ENDPOINTS}/{endpoint['id']}", json={"runpodEndpointId": other["runpodEndpointId"]}
    )
    assert clash.status_code == 409 and error_code(clash) == "ERR_3002"
    null_name = client.put(f"{ENDPOINTS}/{endpoint['id']}", json={"name": None})
    assert error_code(null_name) == "ERR_2001"
    stored = db().collection(records.ENDPOINTS).document(endpoint["id"]).get().to_dict()
    assert stored["runpod_endpoint_id"] == endpoint["runpodEndpointId"]
    bad_id = client.put(f"{ENDPOINTS}/not-a-uuid", json={"name": "x"})
    assert bad_id.status_code == 400 and error_code(bad_id) == "ERR_2003"
    unknown = client.delete(f"{ENDPOINTS}/{uuid.uuid4()}")
    assert unknown.status_code == 404 and error_code(unknown) == "ERR_3001"


def test_base_model_crud_round_trip(stack) -> None:
    client = _admin(stack)
    endpoint = _endpoint(client, name="Stable Diffusion XL")
    payload = _base_payload(
        endpoint["id"], maxPriceCredits=50, fixedInput={"model": "z-image-turbo", "steps": 2}
    )
    created = data(client.post(BASE_MODELS, json=payload), 201)
    assert created["endpoint"] == {"id": endpoint["id"], "name": "Stable Diffusion XL"}
    assert created["inputSchema"] == IMAGE_SCHEMA and created["isActive"] is True
    assert (created["priceCredits"], created["maxPriceCredits"]) == (10, 50)
    assert created["fixedInput"] == {"model": "z-image-turbo", "steps": 2}
    assert created["slug"] == payload["slug"] and created["estimatedSeconds"] == 20
    stored = db().collection(records.BASE_MODELS).document(created["id"]).get().to_dict()
    assert json.loads(stored["input_schema_json"]) == IMAGE_SCHEMA
    listed = data(client.get(BASE_MODELS))
    assert next(m for m in listed if m["id"] == created["id"]) == created
    path = f"{BASE_MODELS}/{created['id']}"
    new_slug = f"renamed-{uuid.uuid4().hex[:8]}"
    updated = data(client.put(path, json={"slug": new_slug, "priceCredits": 20, "isActive": False}))
    assert (updated["slug"], updated["priceCredits"], updated["isActive"]) == (
        new_slug,
        20,
        False,
    )
    assert updated["name"] == created["name"] and updated["fixedInput"] == created["fixedInput"]
    # The old slug is free again.
    data(client.post(BASE_MODELS, json={**payload, "slug": created["slug"]}), 201)
    too_low = client.put(path, json={"maxPriceCredits": 19})
    assert too_low.status_code == 400 and error_code(too_low) == "ERR_2001"
    assert client.delete(path).status_code == 204
    assert not db().collection(records.BASE_MODELS).document(created["id"]).get().exists
    gone = client.delete(path)
    assert gone.status_code == 404 and error_code(gone) == "ERR_3001"
    data(client.post(BASE_MODELS, json={**payload, "slug": new_slug}), 201)


def test_base_model_input_is_validated_and_nothing_is_written(stack) -> None:
    client = _admin(stack)
    endpoint = _endpoint(client)
    before = (_count(records.BASE_MODELS), _count(records.SLUGS))
    for bad in (
        {"inputSchema": {"type": "array"}},
        {"inputSchema": {"type": "object", "properties": {"p": {"type": "strung"}}}},
        {"inputSchema": {"type": "object", "required": "prompt"}},
        {"inputSchema": "not a schema"},
        {"slug": "Has-Caps"},
        {"slug": "double--hyphen"},
        {"category": "SMELL"},
        {"priceCredits": 10_001},
        {"priceCredits": -1},
        {"priceCredits": "10"},
        {"priceCredits": 10, "maxPriceCredits": 9},
        {"estimatedSeconds": 0},
        {"estimatedSeconds": 3601},
        {"fixedInput": [1, 2]},
        {"endpointId": "not-a-uuid"},
        {"unknownField": True},
    ):
        response = client.post(BASE_MODELS, json=_base_payload(endpoint["id"], **bad))
        assert response.status_code == 400 and error_code(response) == "ERR_2001", bad
    no_price = _base_payload(endpoint["id"])
    del no_price["priceCredits"]
    missing = client.post(BASE_MODELS, json=no_price)
    assert missing.status_code == 400 and error_code(missing) == "ERR_2004"
    unknown = client.post(BASE_MODELS, json=_base_payload(str(uuid.uuid4())))
    assert unknown.status_code == 404 and error_code(unknown) == "ERR_3001"
    assert (_count(records.BASE_MODELS), _count(records.SLUGS)) == before
    first = data(client.post(BASE_MODELS, json=_base_payload(endpoint["id"])), 201)
    duplicate = client.post(BASE_MODELS, json=_base_payload(endpoint["id"], slug=first["slug"]))
    assert duplicate.status_code == 409 and error_code(duplicate) == "ERR_3002"
    second = data(client.post(BASE_MODELS, json=_base_payload(endpoint["id"])), 201)
    clash = client.put(f"{BASE_MODELS}/{second['id']}", json={"slug": first["slug"]})
    assert clash.status_code == 409 and error_code(clash) == "ERR_3002"
    bad_schema = client.put(f"{BASE_MODELS}/{second['id']}", json={"inputSchema": {"type": 3}})
    assert error_code(bad_schema) == "ERR_2001"
    no_schema = client.put(f"{BASE_MODELS}/{second['id']}", json={"inputSchema": None})
    assert no_schema.status_code == 400 and error_code(no_schema) == "ERR_2001"
    moved = client.put(f"{BASE_MODELS}/{second['id']}", json={"endpointId": str(uuid.uuid4())})
    assert moved.status_code == 404 and error_code(moved) == "ERR_3001"
    unchanged = db().collection(records.BASE_MODELS).document(second["id"]).get().to_dict()
    assert unchanged["slug"] == second["slug"] and unchanged["endpoint_id"] == endpoint["id"]
    assert error_code(client.put(f"{BASE_MODELS}/123", json={})) == "ERR_2003"
    assert error_code(client.put(f"{BASE_MODELS}/{uuid.uuid4()}", json={})) == "ERR_3001"


def test_racing_creates_of_one_runpod_endpoint_id_make_one_endpoint(stack) -> None:
    client = _admin(stack)
    payload = {"runpodEndpointId": _runpod_id(), "name": "Racer", "source": "HUB"}
    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(lambda _: client.post(ENDPOINTS, json=payload), range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert {error_code(r) for r in responses if r.status_code == 409} == {"ERR_3002"}
    stored = [
        s
        for s in db().collection(records.ENDPOINTS).stream()
        if s.get("runpod_endpoint_id") == payload["runpodEndpointId"]
    ]
    assert len(stored) == 1


def test_deleting_what_is_in_use_is_3003(stack) -> None:
    client = _admin(stack)
    endpoint = _endpoint(client)
    base = data(client.post(BASE_MODELS, json=_base_payload(endpoint["id"])), 201)
    in_use = client.delete(f"{ENDPOINTS}/{endpoint['id']}")
    assert in_use.status_code == 409 and error_code(in_use) == "ERR_3003"
    tars_id = str(uuid.uuid4())
    db().collection(records.TARS_MODELS).document(tars_id).set({"base_model_id": base["id"]})
    used_base = client.delete(f"{BASE_MODELS}/{base['id']}")
    assert used_base.status_code == 409 and error_code(used_base) == "ERR_3003"
    assert db().collection(records.BASE_MODELS).document(base["id"]).get().exists
    db().collection(records.TARS_MODELS).document(tars_id).delete()
    assert client.delete(f"{BASE_MODELS}/{base['id']}").status_code == 204
    assert client.delete(f"{ENDPOINTS}/{endpoint['id']}").status_code == 204


def test_admin_routes_refuse_everyone_else(stack) -> None:
    api = market_api(stack)
    email, token = id_token()
    for client in (Client(api, token), Client(api, api_key_for(email))):
        for method, path in (
            ("GET", ENDPOINTS),
            ("POST", ENDPOINTS),
            ("GET", BASE_MODELS),
            ("DELETE", f"{BASE_MODELS}/{uuid.uuid4()}"),
        ):
            response = client.request(method, path, json={})
            assert response.status_code == 403 and error_code(response) == "ERR_1003"
            assert response.headers["X-RateLimit-Limit"] == "200"
    missing = Client(api).get(ENDPOINTS)
    assert missing.status_code == 401 and error_code(missing) == "ERR_1001"
    garbage = Client(api, "eyJhbGciOi.nope.nope").get(ENDPOINTS)
    assert garbage.status_code == 401 and error_code(garbage) == "ERR_1002"
    assert missing.headers["X-RateLimit-Limit"] == "100"  # counted as public, per IP
    admin = _admin(stack).get(ENDPOINTS)
    assert admin.status_code == 200 and int(admin.headers["X-RateLimit-Remaining"]) >= 0


def _relay(stack, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(RELAY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **stack.env, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_seed_creates_the_shipped_catalog_once(stack) -> None:
    first = _relay(stack, "market", "seed")
    assert all(r["created"] for r in first["endpoints"] + first["baseModels"])
    assert [e["runpodEndpointId"] for e in first["endpoints"]] == ["z-image-turbo", "flux-schnell"]
    assert [b["slug"] for b in first["baseModels"]] == [
        "z-image-turbo-text-to-image",
        "flux-schnell-text-to-image",
    ]
    snapshot = {
        c: {s.id: s.to_dict() for s in db().collection(c).stream()}
        for c in (records.ENDPOINTS, records.BASE_MODELS, records.SLUGS)
    }
    second = seed.seed()
    assert not any(r["created"] for r in second["endpoints"] + second["baseModels"])
    assert [r["id"] for r in second["baseModels"]] == [r["id"] for r in first["baseModels"]]
    assert _relay(stack, "market", "seed")["endpoints"] == second["endpoints"]
    again = {
        c: {s.id: s.to_dict() for s in db().collection(c).stream()}
        for c in (records.ENDPOINTS, records.BASE_MODELS, records.SLUGS)
    }
    assert again == snapshot
    listed = data(_admin(stack).get(BASE_MODELS))
    z_image = next(m for m in listed if m["slug"] == "z-image-turbo-text-to-image")
    flux = next(m for m in listed if m["slug"] == "flux-schnell-text-to-image")
    assert (z_image["priceCredits"], z_image["maxPriceCredits"]) == (10, 10_000)
    assert (flux["priceCredits"], flux["maxPriceCredits"]) == (5, 10_000)
    assert z_image["fixedInput"] == {"model": "z-image-turbo", "steps": 8}
    assert flux["fixedInput"] == {"model": "flux-schnell", "steps": 4}
    width = z_image["inputSchema"]["properties"]["width"]
    assert (width["enum"], width["default"]) == ([512, 768, 1024], 1024)
    assert (z_image["category"], z_image["outputType"], z_image["outputFormat"]) == (
        "IMAGE",
        "IMAGE",
        "png",
    )
    assert z_image["endpoint"]["id"] == first["endpoints"][0]["id"]


_hostile_text = st.sampled_from(
    ["", ".", "..", "a/b", "__x__", "\x00", "é" * 300, "$ref"]
) | st.text(max_size=16)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_hostile_text, inner, max_size=3),
    max_leaves=8,
)
_FIELDS = [
    "runpodEndpointId", "name", "source", "dockerImage", "gpuType", "isActive", "provider",
    "endpointId", "slug", "category", "inputSchema", "outputType", "estimatedSeconds",
    "priceCredits", "maxPriceCredits", "fixedInput",
]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    route=st.sampled_from([("POST", ENDPOINTS), ("POST", BASE_MODELS), ("PUT", BASE_MODELS)]),
    fields=st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=6),
)
def test_hostile_admin_bodies_never_answer_a_5xx(hostile_admin, route, fields) -> None:
    client, base_id, endpoint_id = hostile_admin
    method, path = route
    body = {"endpointId": endpoint_id, **fields} if path == BASE_MODELS else fields
    target = f"{path}/{base_id}" if method == "PUT" else path
    response = client.request(method, target, content=json.dumps(body).encode())
    assert response.status_code < 500, (body, response.text[:300])
    assert response.json()["success"] is (response.status_code < 300)
