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
from urllib.parse import unquote

import nbformat
import pytest
import yaml
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect

from functions.market.site import CODES
from shared.engine import identity, ledger
from tests.contract.documents import CHECKS, DOCS, load_served
from tests.market_helpers import Client, id_token, market_api, seed_base_model
from tests.stack_fixture import IDLE_MODEL

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


def _address() -> str:
    """A client address of its own (not from `random`: Hypothesis seeds it per example)."""
    a, b, c = uuid.uuid4().bytes[:3]
    return f"10.{a}.{b}.{c or 1}"


# Operations whose path names something a developer owns: (path prefix, parameter, kind).
OWNED = [
    ("/api/studio/tars-models/{id}", "id", "tars"),
    ("/api/studio/analytics/notebooks/{id}", "id", "tars"),
    ("/api/studio/notebooks/{id}", "id", "notebook"),
    ("/api/marketplace/runs/{id}", "id", "run"),
    ("/api/admin/endpoints/{id}", "id", "endpoint"),
    ("/api/admin/base-models/{id}", "id", "base"),
    ("/api/marketplace/models/{slug}", "slug", "tars_slug"),
    ("/api/marketplace/notebooks/{slug}", "slug", "notebook_slug"),
]
RUN_INPUTS = {"inputs": {"prompt": "a contract run"}}
NOTEBOOK_FIELDS = {
    "title": "Contract notebook",
    "description": "A notebook the contract test publishes.",
    "shortDescription": "Contract",
}
NOTEBOOK_FILE = nbformat.writes(
    nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('contract')")])
).encode()


class Developer:
    """A registered developer with the admin claim, and what they own (made when first
    needed, through the API where the branch routes it)."""

    def __init__(self, base: str, *, register: bool = True):
        self.email, token = id_token(admin=True)
        self.client = Client(base, token)
        self.uses = 0
        self.owned: dict[str, str] = {}
        if register and _routed("POST", REGISTER):
            body = {"email": self.email, "displayName": "Contract"}
            assert self.client.post(REGISTER, json=body).status_code == 201

    def _created(self, path: str, body: Any, status: int = 201) -> dict[str, Any]:
        response = self.client.post(path, json=body) if body is not None else self.client.post(path)
        assert response.status_code == status, (path, response.text)
        return dict(response.json()["data"])

    def own(self, kind: str) -> str | None:
        if kind in self.owned:
            return self.owned[kind]
        if kind in ("base", "endpoint"):
            # Served by the idle endpoint: runs wait there, never finish.
            endpoint_id, base_id = seed_base_model(runpod_endpoint_id=IDLE_MODEL)
            self.owned.update(endpoint=endpoint_id, base=base_id)
        elif kind in ("tars", "tars_slug") and _routed("POST", "/api/studio/tars-models"):
            slug = f"contract-{uuid.uuid4().hex[:12]}"
            body = {"title": "Contract model", "slug": slug, "baseModelId": self.own("base")}
            tars = self._created("/api/studio/tars-models", body)
            self._created(f"/api/studio/tars-models/{tars['id']}/publish", None, 200)
            self.owned.update(tars=tars["id"], tars_slug=slug)
        elif kind == "notebook" and _routed("POST", "/api/studio/notebooks"):
            # A draft ready to publish: the document's required fields and a notebook file.
            notebook = self._created("/api/studio/notebooks", NOTEBOOK_FIELDS)
            files = {"file": ("contract.ipynb", NOTEBOOK_FILE, "application/x-ipynb+json")}
            uploaded = self.client.post(f"/api/studio/notebooks/{notebook['id']}/file", files=files)
            assert uploaded.status_code == 200, uploaded.text
            self.owned["notebook"] = notebook["id"]
        elif kind == "notebook_slug" and self.own("notebook") is not None:
            path = f"/api/studio/notebooks/{self.owned['notebook']}/publish"
            self.owned["notebook_slug"] = self._created(path, None, 200)["slug"]
        elif kind == "credit":
            ledger.credit(
                account_id=identity.account_id_for_email(self.email),
                kind=ledger.EntryKind.GRANT,
                ref=str(uuid.uuid4()),
                micros=10_000_000,
            )
            self.owned["credit"] = "granted"
        elif kind == "run" and _routed("POST", "/api/marketplace/models/{slug}/run"):
            slug, _ = self.own("tars_slug"), self.own("credit")
            run = self._created(f"/api/marketplace/models/{slug}/run", RUN_INPUTS, 202)
            self.owned["run"] = run["executionId"]
        return self.owned.get(kind)


class Callers:
    """The developers of one operation's cases. An account counts 200 requests a minute
    and the auth endpoints 10: each `/api/studio/auth/*` case gets a fresh developer, the
    others share one until it has made 150 requests."""

    def __init__(self, base: str):
        self.base = base
        self._shared: Developer | None = None

    def for_case(self, path: str) -> Developer:
        if path.startswith("/api/studio/auth/"):
            return Developer(self.base, register=path != REGISTER)
        if self._shared is None or self._shared.uses >= 150:
            self._shared = Developer(self.base)
        self._shared.uses += 1
        return self._shared


def _aim_at_owned(case: Any, developer: Developer) -> None:
    """Half the valid cases of an operation on an owned thing name the developer's own (the
    rest name unknown ones), so documented successes are checked too, not only 404s."""
    if developer.uses % 2:
        return
    for prefix, parameter, kind in OWNED:
        if case.operation.path.startswith(prefix):
            value = developer.own(kind)
            if value is not None:
                case.path_parameters[parameter] = value
                if case.operation.path.endswith("/run"):
                    developer.own("credit")
                    case.body = dict(RUN_INPUTS)
            return


@pytest.fixture
def callers(stack) -> Callers:
    return Callers(market_api(stack))


# main.py's answer to a path functions-framework's own router cannot match (a newline in
# it): it never reaches a market function, so it is not in Tarsify's envelope.
UNROUTABLE = {"error": "not_found", "code": "NOT_FOUND"}


def _unroutable(path: str, response: Any) -> bool:
    control = any(ord(ch) < 32 or ord(ch) == 127 for ch in unquote(path))
    return control and response.status_code == 404 and response.json() == UNROUTABLE


def _assert_enveloped_error(case: Any, response: Any) -> None:
    content_type = response.headers.get("content-type") or [""]
    if response.status_code < 400 or not content_type[0].startswith("application/json"):
        return
    if _unroutable(case.formatted_path, response):
        return
    body = response.json()
    error = body.get("error")
    where = (case.method, case.formatted_path, case.query, response.status_code, body)
    assert body.get("success") is False and isinstance(error, dict), where
    assert error.get("code") in CODES and error.get("message"), where
    assert CODES[error["code"]][0] == response.status_code, where


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_matches_the_document(case, callers) -> None:
    operation = case.operation
    if not _routed(operation.method, operation.path):
        pytest.skip(f"{operation.label}: no market function routes it on this branch")
    developer = callers.for_case(operation.path)
    client = developer.client
    # Each case its own client address: the public limit (100/min) is per IP.
    headers = {**client.headers(), "X-Forwarded-For": _address()}
    if case.meta is not None and case.meta.generation.mode.is_negative:
        response = case.call(base_url=client.base, headers=headers, timeout=60)
        assert response.status_code < 500, response.text
        _assert_enveloped_error(case, response)
        return
    _aim_at_owned(case, developer)
    if operation.path == REGISTER and isinstance(case.body, dict):
        case.body["email"] = developer.email  # the account's own email: a 201
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


def test_every_documented_operation_reaches_the_function_that_serves_it() -> None:
    """Hosting sends a path to the first rewrite that matches it (the last, `/api/**`, is
    the catch-all answering unknown paths in the envelope): that function must route
    every documented operation on the path."""
    import main

    hosting = json.loads(FIREBASE_JSON.read_text())["hosting"]
    rewrites = next(site["rewrites"] for site in hosting if site["target"] == "market")

    def pattern(source: str) -> re.Pattern[str]:
        glob = re.escape(source).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        return re.compile(f"^{glob}$")

    unreached = []
    for path, operations in _document()["paths"].items():
        sample = _sample(path)
        target = next(
            (r["function"]["functionId"] for r in rewrites if pattern(r["source"]).match(sample)),
            None,
        )
        module = importlib.import_module(getattr(main, target).__module__) if target else None
        maps = [v.url_map for v in vars(module).values() if hasattr(v, "url_map")] if module else []
        for method in (m for m in operations if m in {"get", "post", "put", "delete", "patch"}):
            try:
                maps[0].bind("localhost").match(sample, method=method.upper())
            except (IndexError, NotFound, MethodNotAllowed, RequestRedirect):
                unreached.append(f"{method.upper()} {path} -> {target}")
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


def test_an_unknown_api_path_answers_err_3001_in_the_envelope(stack) -> None:
    client = Client(market_api(stack))
    for path in ("/api/nope", "/api/studio/unknown/thing", "/api/marketplace"):
        response = client.get(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json() == {
            "success": False,
            "error": {"code": "ERR_3001", "message": "Not found"},
        }
        assert response.headers["X-RateLimit-Limit"] == "100"
