"""Tarsify (`market`) against the document Relay serves for it, docs/api/market.openapi.yaml:
schemathesis generates requests for every operation (studio, marketplace, admin, docs) and
checks each response: never a 5xx; status code, content type, headers (the rate-limit
headers on every response, `Deprecation` on the notebook API) and body as documented. Input
the document forbids must get a 4xx in Tarsify's envelope, with the status the document
tables for its code.

Callers: a developer signed in with a Firebase ID token of the Auth emulator that carries
the admin claim, registered through POST /api/studio/auth/register, so studio, marketplace
and admin operations all get past authentication. A developer counts 200 requests a minute
and the auth endpoints 10, so every operation gets a developer of its own and every
`/api/studio/auth/*` case a fresh one; every case comes from its own client address (the
public limit is per IP).

The document also has to be whole: valid OpenAPI 3.1, served at GET /openapi.yaml, every
route of every market function documented, every documented path reachable through the
site's hosting rewrites. An operation the site does not route (yet) is skipped by name.
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect

from functions.market.site import CODES
from tests.contract.documents import CHECKS, DOCS, load_served
from tests.market_helpers import Client, id_token, market_api, random_ip

DOCUMENT = DOCS / "market.openapi.yaml"
FIREBASE_JSON = Path(__file__).resolve().parents[2] / "firebase.json"
REGISTER = "/api/studio/auth/register"
METHODS = ("get", "post", "put", "delete", "patch")

schema = load_served("market.openapi.yaml")


@cache
def _route_maps() -> tuple[Map, ...]:
    """The url maps of every deployed market function (what `main` serves)."""
    import main

    maps = []
    for name in main.__all__:
        if not name.startswith("market_"):
            continue
        module = importlib.import_module(getattr(main, name).__module__)
        maps += [v.url_map for v in vars(module).values() if hasattr(v, "url_map")]
    return tuple(maps)


def _sample(path: str) -> str:
    """A concrete path for a documented one: a UUID for `{id}`, a slug for `{slug}`."""
    return path.replace("{id}", str(uuid.uuid4())).replace("{slug}", "contract-slug")


def _routed(method: str, path: str) -> bool:
    for url_map in _route_maps():
        try:
            url_map.bind("localhost").match(_sample(path), method=method.upper())
        except (NotFound, MethodNotAllowed, RequestRedirect):
            continue
        return True
    return False


class Callers:
    """Developers for one operation's cases, made when first needed."""

    def __init__(self, base: str):
        self.base = base
        self._shared: Client | None = None

    def developer(self, *, register: bool = True) -> Client:
        email, token = id_token(admin=True)
        client = Client(self.base, token)
        if register and _routed("POST", REGISTER):
            response = client.post(REGISTER, json={"email": email, "displayName": "Contract"})
            assert response.status_code == 201, response.text
        return client

    def for_case(self, path: str) -> Client:
        if path.startswith("/api/studio/auth/"):
            return self.developer(register=path != REGISTER)
        if self._shared is None:
            self._shared = self.developer()
        return self._shared


@pytest.fixture
def callers(stack) -> Callers:
    return Callers(market_api(stack))


def _assert_enveloped_error(case: Any, response: Any) -> None:
    content_type = response.headers.get("content-type") or [""]
    if response.status_code < 400 or not content_type[0].startswith("application/json"):
        return
    body = response.json()
    error = body.get("error")
    assert body.get("success") is False and isinstance(error, dict), (case.path, body)
    assert error.get("code") in CODES and error.get("message"), (case.path, body)
    assert CODES[error["code"]][0] == response.status_code, (case.path, body)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_matches_the_document(case, callers) -> None:
    operation = case.operation
    if not _routed(operation.method, operation.path):
        pytest.skip(f"{operation.label}: no market function routes it on this branch")
    client = callers.for_case(case.path)
    # Each case its own client address: the public limit (100/min) is per IP.
    headers = {**client.headers(), "X-Forwarded-For": random_ip()}
    if case.meta is not None and case.meta.generation.mode.is_negative:
        response = case.call(base_url=client.base, headers=headers, timeout=60)
        assert response.status_code < 500, response.text
        _assert_enveloped_error(case, response)
        return
    response = case.call_and_validate(
        base_url=client.base, headers=headers, checks=CHECKS, timeout=60
    )
    _assert_enveloped_error(case, response)


# --- the document itself --------------------------------------------------------------------


def _document() -> dict[str, Any]:
    return dict(yaml.safe_load(DOCUMENT.read_text()))


def test_the_document_is_valid_openapi_3_1() -> None:
    document = _document()
    validate(document)
    assert document["openapi"].startswith("3.1")
    operations = [(m, p) for p, item in document["paths"].items() for m in item if m in METHODS]
    # Every operation of the Tarsify document (notebook update as PUT) plus GET /openapi.yaml.
    assert len(operations) == 47, operations


def test_every_market_route_is_documented() -> None:
    def shape(path: str) -> str:
        return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)

    documented = {
        (method.upper(), shape(path))
        for path, item in _document()["paths"].items()
        for method in item
        if method in METHODS
    }
    routes = {
        (method, shape(rule.rule))
        for url_map in _route_maps()
        for rule in url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes, "no market function has routes"
    assert routes <= documented, sorted(routes - documented)


def test_every_documented_path_reaches_a_market_function() -> None:
    hosting = json.loads(FIREBASE_JSON.read_text())["hosting"]
    rewrites = next(site["rewrites"] for site in hosting if site["target"] == "market")

    def pattern(source: str) -> re.Pattern[str]:
        glob = re.escape(source).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        return re.compile(f"^{glob}$")

    unreached = [
        path
        for path in _document()["paths"]
        if not any(pattern(r["source"]).match(_sample(path)) for r in rewrites)
    ]
    assert not unreached, unreached


def test_the_document_is_served_at_openapi_yaml(stack) -> None:
    client = Client(market_api(stack))
    response = client.get("/openapi.yaml")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/yaml")
    assert response.content == DOCUMENT.read_bytes()
    # Public: counted in the caller's per-IP window of 100 a minute.
    assert response.headers["X-RateLimit-Limit"] == "100"
    assert int(response.headers["X-RateLimit-Remaining"]) == 99
    assert int(response.headers["X-RateLimit-Reset"]) > 0

    refused = client.post("/openapi.yaml", content=b"x")
    assert refused.status_code == 405
    assert refused.json() == {
        "success": False,
        "error": {"code": "ERR_4050", "message": "Method not allowed"},
    }
