"""Routes that cost us or a provider something answer Killa Tamata's documented 429 past
their limit, counted per account and per client network (IPv4 address, IPv6 /64), with the
client address read past the proxies' own X-Forwarded-For hops (a client's own entries do
not move it). Limits are TIGHT_ENV's (tests/limits_gateway.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import auth, media_account
from tests.limits_gateway import from_client, tight_gateway


@pytest.fixture(scope="module")
def sites(stack) -> Iterator[dict[str, str]]:
    yield from tight_gateway(stack)


@pytest.fixture(scope="module")
def api(sites) -> str:
    return f"{sites['media']}/api/v1"


def _ip() -> str:
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def _limited(response: httpx.Response) -> bool:
    body = response.json()
    return (
        response.status_code == 429
        and body["error"]["code"] == "rate_limited"
        and int(response.headers["Retry-After"]) >= 1
    )


def _stripe(api: str, key: str, ip: str) -> httpx.Response:
    return httpx.post(
        f"{api}/checkout/stripe",
        json={"packageCode": "starter_5"},
        headers={**auth(key), **from_client(ip)},
        timeout=30,
    )


def _crypto(api: str, key: str, ip: str) -> httpx.Response:
    return httpx.post(
        f"{api}/checkout/crypto",
        json={"packageCode": "starter_5"},
        headers={**auth(key), **from_client(ip)},
        timeout=30,
    )


def test_checkouts_are_limited_per_account_across_providers(api) -> None:
    _, key = media_account()
    assert _stripe(api, key, _ip()).status_code == 201
    assert _crypto(api, key, _ip()).status_code == 201
    assert _limited(_stripe(api, key, _ip()))
    assert _limited(_crypto(api, key, _ip()))
    _, other = media_account()
    assert _stripe(api, other, _ip()).status_code == 201


def test_checkouts_are_limited_per_ip_whatever_the_account(api) -> None:
    ip = _ip()
    for _ in range(3):
        assert _stripe(api, media_account()[1], ip).status_code == 201
    fresh = media_account()[1]
    assert _limited(_stripe(api, fresh, ip))
    # The refusal for the network spent nothing of the account's allowance.
    assert _stripe(api, fresh, _ip()).status_code == 201
    assert _stripe(api, fresh, _ip()).status_code == 201


def test_a_clients_own_forwarded_for_entries_do_not_move_its_address(api) -> None:
    ip = _ip()
    for n in range(3):
        response = _crypto_spoofed(api, media_account()[1], ip, spoof=f"203.0.113.{n + 1}")
        assert response.status_code == 201
    assert _limited(_crypto_spoofed(api, media_account()[1], ip, spoof="203.0.113.99"))


def _crypto_spoofed(api: str, key: str, ip: str, *, spoof: str) -> httpx.Response:
    return httpx.post(
        f"{api}/checkout/crypto",
        json={"packageCode": "starter_5"},
        headers={**auth(key), **from_client(ip, spoof=spoof)},
        timeout=30,
    )


def test_ipv6_clients_are_counted_per_64(api) -> None:
    prefix = f"2001:db8:{uuid.uuid4().int % 65535:x}:1"
    for address in (f"{prefix}::1", f"{prefix}::2", f"{prefix}:ab:cd:ef:12"):
        assert _stripe(api, media_account()[1], address).status_code == 201
    assert _limited(_stripe(api, media_account()[1], f"{prefix}:ffff:ffff:ffff:fffe"))
    neighbour = f"2001:db8:{uuid.uuid4().int % 65535:x}:2::1"  # another /64
    assert _stripe(api, media_account()[1], neighbour).status_code == 201


def _x402(api: str, key: str, ip: str) -> httpx.Response:
    return httpx.post(
        f"{api}/credits/purchase/x402",
        json={"usdCents": 500},
        headers={**auth(key), **from_client(ip)},
        timeout=30,
    )


def test_x402_purchase_attempts_are_limited_per_account_and_per_ip(api) -> None:
    _, key = media_account()
    assert _x402(api, key, _ip()).status_code == 402  # payment required: an attempt
    assert _x402(api, key, _ip()).status_code == 402
    assert _limited(_x402(api, key, _ip()))
    ip = _ip()
    for _ in range(3):
        assert _x402(api, media_account()[1], ip).status_code == 402
    assert _limited(_x402(api, media_account()[1], ip))


def _mint(api: str, key: str, ip: str) -> httpx.Response:
    return httpx.post(
        f"{api}/keys", json={"label": "k"}, headers={**auth(key), **from_client(ip)}, timeout=30
    )


def test_key_minting_is_capped_and_rate_limited(api) -> None:
    _, key = media_account()  # one active key
    assert _mint(api, key, _ip()).status_code == 201
    assert _mint(api, key, _ip()).status_code == 201
    capped = _mint(api, key, _ip())  # three active: the cap
    assert capped.status_code == 409, capped.text
    assert capped.json()["error"]["code"] == "key_limit_reached"
    keys = httpx.get(f"{api}/keys", headers=auth(key)).json()["keys"]
    revoked = httpx.post(f"{api}/keys/revoke", json={"keyId": keys[-1]["id"]}, headers=auth(key))
    assert revoked.status_code == 200, revoked.text
    assert _limited(_mint(api, key, _ip()))  # the fourth mint this hour


def test_key_minting_is_limited_per_ip(api) -> None:
    ip = _ip()
    for _ in range(4):
        assert _mint(api, media_account()[1], ip).status_code == 201
    assert _limited(_mint(api, media_account()[1], ip))


def test_device_link_start_is_limited_per_ip(api) -> None:
    ip = _ip()

    def start(address: str) -> httpx.Response:
        return httpx.post(f"{api}/device/link/start", json={}, headers=from_client(address))

    assert start(ip).status_code == 201
    assert start(ip).status_code == 201
    assert _limited(start(ip))
    assert start(_ip()).status_code == 201


def test_stripe_connect_links_are_limited_per_account_and_per_ip(sites) -> None:
    from shared.engine import identity
    from tests.helpers import new_account
    from tests.market_helpers import register_developer

    def developer() -> str:
        account_id, key = new_account(site=identity.Site.MARKET)
        register_developer(account_id)
        return key

    def connect(key: str, ip: str) -> httpx.Response:
        return httpx.post(
            f"{sites['market']}/api/studio/payouts/connect-stripe",
            json={},
            headers={**auth(key), **from_client(ip)},
            timeout=30,
        )

    def refused(response: httpx.Response) -> bool:
        error = response.json()["error"]
        return response.status_code == 429 and error["code"] == "ERR_4290"

    key = developer()
    assert connect(key, _ip()).status_code == 200
    assert connect(key, _ip()).status_code == 200
    assert refused(connect(key, _ip()))
    ip = _ip()
    for _ in range(3):
        assert connect(developer(), ip).status_code == 200
    assert refused(connect(developer(), ip))


def test_grid_priority_boosts_share_the_checkout_budget(sites) -> None:
    """A boost is a Stripe Checkout session: past the budget the submit is the grid's 429
    and no job is created."""
    from tests.integration.grid_client import grid_key

    _, key = grid_key()
    grid = f"{sites['grid']}/api/v1"
    ip = _ip()
    body = {"model": "tiny-llm:latest", "prompt": "p", "priority_boost": True}

    def boost() -> httpx.Response:
        return httpx.post(f"{grid}/jobs", json=body, headers={**auth(key), **from_client(ip)})

    for _ in range(2):
        assert boost().status_code == 201
    refused = boost()
    assert refused.status_code == 429 and refused.json() == {"error": "rate_limited"}, refused.text
    listed = httpx.get(f"{grid}/jobs", headers={**auth(key), **from_client(ip)}).json()
    assert len(listed) == 2
    plain = {"model": "tiny-llm:latest", "prompt": "p"}
    ok = httpx.post(f"{grid}/jobs", json=plain, headers={**auth(key), **from_client(ip)})
    assert ok.status_code == 201, ok.text
