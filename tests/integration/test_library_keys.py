"""The library key: `relay library key show|regenerate`, POST /api/v1/auth/regenerate,
Relay admin keys, and the browser sessions a key opens."""

from __future__ import annotations

import json
import re
import uuid

import httpx
from typer.testing import CliRunner

from shared.cli import app
from shared.engine import identity
from shared.library import keys, sessions
from tests.helpers import auth, new_account, site_url

REGENERATE = "/api/v1/auth/regenerate"
MESSAGE = "API key regenerated. Update your clients with the new key."
HEX64 = re.compile(r"[0-9a-f]{64}")


def cli(*args: str) -> dict:
    result = CliRunner().invoke(app, ["library", "key", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def internal_status(stack, headers: dict[str, str]) -> int:
    """An authorized caller reaches the route (404: no such model); others get 401."""
    url = f"{site_url(stack, 'library')}/api/models/1/images"
    return httpx.get(url, headers=headers).status_code


def test_key_show_creates_one_key_and_keeps_showing_it(stack) -> None:
    first = cli("show")["apiKey"]
    assert HEX64.fullmatch(first)
    assert cli("show") == {"apiKey": first}
    assert internal_status(stack, auth(first)) == 404


def test_regenerate_route_answers_new_key_and_old_key_is_refused_at_once(stack) -> None:
    base = site_url(stack, "library")
    old = keys.show()
    response = httpx.post(f"{base}{REGENERATE}", headers=auth(old))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {"key": body["key"], "message": MESSAGE}
    assert HEX64.fullmatch(body["key"]) and body["key"] != old
    refused = httpx.post(f"{base}{REGENERATE}", headers=auth(old))
    assert refused.status_code == 401 and refused.json() == {
        "error": "Missing or invalid Authorization header"
    }
    assert internal_status(stack, auth(old)) == 401
    assert internal_status(stack, auth(body["key"])) == 404
    assert cli("show") == {"apiKey": body["key"]}


def test_cli_regenerate_prints_the_new_key_and_ends_the_old_keys_sessions(stack) -> None:
    old = cli("show")["apiKey"]
    token, _ = sessions.open_session(old)
    cookie = {"Cookie": f"{sessions.COOKIE}={token}"}
    assert internal_status(stack, cookie) == 404
    new = cli("regenerate")["apiKey"]
    assert HEX64.fullmatch(new) and new != old
    assert internal_status(stack, auth(old)) == 401
    assert internal_status(stack, cookie) == 401
    assert internal_status(stack, auth(new)) == 404


def test_regenerate_without_a_valid_key_changes_nothing(stack) -> None:
    base = site_url(stack, "library")
    current = keys.show()
    for headers in ({}, auth("0" * 64), {"Authorization": f"Basic {current}"}):
        response = httpx.post(f"{base}{REGENERATE}", headers=headers)
        assert response.status_code == 401 and "error" in response.json()
    assert keys.show() == current


def test_relay_admin_key_is_accepted_and_a_non_admin_key_is_refused(stack) -> None:
    admin = identity.create_account(
        email=f"lib-admin-{uuid.uuid4().hex[:8]}@example.com", roles=[identity.Role.ADMIN]
    )
    admin_key = identity.create_api_key(account_id=admin.id, site=identity.Site.PICS)
    _, user_key = new_account()
    assert internal_status(stack, auth(admin_key)) == 404
    assert internal_status(stack, auth(user_key)) == 401
    before = keys.show()
    refused = httpx.post(f"{site_url(stack, 'library')}{REGENERATE}", headers=auth(user_key))
    assert refused.status_code == 401 and keys.show() == before
    regenerated = httpx.post(f"{site_url(stack, 'library')}{REGENERATE}", headers=auth(admin_key))
    assert regenerated.status_code == 200 and regenerated.json()["key"] == keys.show()


def test_session_cookie_opens_internal_routes_and_refuses_cross_site_writes(stack) -> None:
    base = site_url(stack, "library")
    token, _ = sessions.open_session(keys.show())
    cookie = {"Cookie": f"{sessions.COOKIE}={token}"}
    assert internal_status(stack, cookie) == 404
    assert internal_status(stack, {"Cookie": f"{sessions.COOKIE}=not-a-session"}) == 401
    cross = httpx.patch(
        f"{base}/api/models/1",
        json={"notes": "x"},
        headers={**cookie, "Origin": "https://evil.example"},
    )
    assert cross.status_code == 403 and cross.json() == {"error": "Cross-site request refused"}
    same = httpx.patch(f"{base}/api/models/1", json={"notes": "x"}, headers=cookie)
    assert same.status_code == 404
