"""Every live route of every function (pics, grid, media, market, library, payments, tasks,
callbacks) gets hostile path parameters, query parameters and bodies; none answers a 5xx,
and every site still answers afterwards.

Routes are read from each function's own route table (`entry_point`'s url map) and called
through the functions port, the way Cloud Functions exposes them, with a live key and the
task token (a valid OIDC token for each task target) so that parsing is reached past
authentication.
"""

from __future__ import annotations

import importlib
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.engine import identity
from shared.engine.identity import Role
from shared.engine.queue import Target
from tests.helpers import media_account, site_url, task_headers
from tests.market_helpers import register_developer

HOSTILE = [
    "", ".", "..", "a/b", "../x", "__x__", "²", "٣", "-1", "9" * 40, "1e9", "0x10",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "\x00", "%00", "é" * 800,
    "null", "[]", "{}", "true",
]  # fmt: skip
FIELDS = [
    "prompt", "tag", "model", "tier", "sessionId", "chargeId", "code", "userCode",
    "deviceCode", "keyId", "job_id", "delivery_id", "usdCents", "priority", "models",
    "output", "error", "idToken", "email", "packageCode", "blob_ids", "width", "height",
    "keyLabel", "captureToken", "output_tokens", "duration_ms", "body_b64", "sealed_secret",
    "title", "slug", "baseModelId", "configOverrides", "inputs", "amount", "displayName",
    "runpodEndpointId", "inputSchema", "priceCredits", "endpointId", "returnUrl",
]  # fmt: skip
QUERY = [
    "limit", "offset", "from", "to", "tag", "status", "period", "code", "userCode", "job",
    "page", "sort", "search", "category", "sync",
]  # fmt: skip


def _routes() -> list[tuple[str, str, str]]:
    """(function name, method, werkzeug rule) for every route of every deployed function."""
    import main

    found = set()
    for name in main.__all__:
        module = importlib.import_module(getattr(main, name).__module__)
        for value in vars(module).values():
            url_map = getattr(value, "url_map", None)
            if url_map is None:
                continue
            for rule in url_map.iter_rules():
                for method in rule.methods - {"HEAD", "OPTIONS"}:
                    found.add((name, method, rule.rule))
    return sorted(found)


ROUTES = _routes()
TASK_TARGETS = {v for k, v in vars(Target).items() if k.isupper()}
hostile_text = st.sampled_from(HOSTILE) | st.text(max_size=24)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)
bodies = (
    st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=6).map(
        # json.dumps writes NaN/Infinity as bare tokens (not JSON): hostile input too.
        lambda d: json.dumps(d).encode()
    )
    | st.sampled_from(
        [b"", b"[" * 5000 + b"]" * 5000, b'{"a":' * 200 + b"1" + b"}" * 200, b"\xff\xfe\x00", b"{"]
    )
    | st.binary(max_size=64)
)


def _path(rule: str, values: list[str]) -> str:
    parts, i = [], 0
    for piece in rule.split("/"):
        if piece.startswith("<"):
            parts.append(quote(values[i % len(values)], safe="") or "x")
            i += 1
        else:
            parts.append(piece)
    return "/".join(parts)


@pytest.fixture(scope="module")
def caller(stack) -> dict[str, Any]:
    # An admin and a registered Tarsify developer, so studio and admin routes parse too.
    account_id, _ = media_account()
    identity.create_account(email=identity.get_account(account_id).email, roles=[Role.ADMIN])
    register_developer(account_id)
    return {"functions": f"http://127.0.0.1:{stack.ports['functions']}", "account": account_id}


def test_routes_were_found() -> None:
    names = {name for name, _, _ in ROUTES}
    assert {"pics_jobs", "grid_jobs", "grid_worker", "media_affiliates", "task_dispatch"} <= names


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    route=st.sampled_from(ROUTES),
    params=st.lists(hostile_text, min_size=1, max_size=3),
    query=st.dictionaries(st.sampled_from(QUERY), hostile_text, max_size=3),
    body=bodies,
)
def test_no_route_answers_a_5xx_to_hostile_input(
    caller, route: tuple[str, str, str], params: list[str], query: dict[str, str], body: bytes
) -> None:
    name, method, rule = route
    key = identity.create_api_key(account_id=caller["account"], site=identity.Site.MEDIA)
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
    }
    if name in TASK_TARGETS:  # past the task token, into the target's own parsing
        headers.update(task_headers(name))
    url = f"{caller['functions']}/{name}{_path(rule, params)}"
    response = httpx.request(method, url, params=query, content=body, headers=headers, timeout=60)
    assert response.status_code < 500, (method, url, query, body[:200], response.text[:300])


def test_every_site_still_answers(stack) -> None:
    for site, path in (("pics", "/api/v1/tiers"), ("media", "/api/v1/health")):
        assert httpx.get(site_url(stack, site) + path, timeout=30).status_code == 200
    assert httpx.get(site_url(stack, "grid") + "/api/v1/models", timeout=30).status_code == 401
    assert httpx.get(site_url(stack, "library") + "/api/v1/models", timeout=30).status_code == 401
