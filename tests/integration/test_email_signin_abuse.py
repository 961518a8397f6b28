"""Email sign-in cannot be spent for a victim: an attacker's starts and guesses count
against the attacker's own network (per-network limit charged first, then the
(email, network) one), a start replaces only its own network's code, and guesses from other
networks spend a per-email budget that never touches a code's own attempts, so the victim's
own sign-in keeps working while an attacker hammers it. Limits are TIGHT_ENV's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import mail_code
from tests.limits_gateway import from_client, tight_gateway


@pytest.fixture(scope="module")
def api(stack) -> Iterator[str]:
    for sites in tight_gateway(stack):
        yield f"{sites['media']}/api/v1"


def _ip() -> str:
    return f"192.0.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def _email() -> str:
    return f"victim-{uuid.uuid4().hex[:10]}@example.com"


def _start(api: str, email: str, ip: str) -> httpx.Response:
    return httpx.post(f"{api}/auth/email/start", json={"email": email}, headers=from_client(ip))


def _verify(api: str, email: str, code: str, ip: str) -> httpx.Response:
    return httpx.post(
        f"{api}/auth/email/verify", json={"email": email, "code": code}, headers=from_client(ip)
    )


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_an_attacker_hammering_starts_spends_only_its_own_allowance(api, stack) -> None:
    email, attacker, victim = _email(), _ip(), _ip()
    assert _start(api, email, attacker).status_code == 202
    assert _start(api, email, attacker).status_code == 429  # (email, attacker): 1 a minute
    started = _start(api, email, victim)
    assert started.status_code == 202, started.text
    response = _verify(api, email, mail_code(stack, email), victim)
    assert response.status_code == 201, response.text


def test_the_network_limit_is_charged_before_the_email_one(api, stack) -> None:
    attacker, email = _ip(), _email()
    for _ in range(3):
        assert _start(api, _email(), attacker).status_code == 202
    assert _start(api, email, attacker).status_code == 429  # the network's 3 an hour
    # Refused for its network, the request spent nothing of the (email, network) minute.
    other = _ip()
    assert _start(api, email, other).status_code == 202
    assert _verify(api, email, mail_code(stack, email), other).status_code == 201


def test_another_networks_start_does_not_replace_the_victims_code(api, stack) -> None:
    email, attacker, victim = _email(), _ip(), _ip()
    assert _start(api, email, victim).status_code == 202
    code = mail_code(stack, email)
    assert _start(api, email, attacker).status_code == 202  # mails the victim a second code
    assert _verify(api, email, code, victim).status_code == 201


def test_foreign_guesses_are_bounded_and_never_lock_the_victim_out(api, stack) -> None:
    email, attacker, victim = _email(), _ip(), _ip()
    assert _start(api, email, victim).status_code == 202
    code = mail_code(stack, email)
    for n in range(3):  # the email's foreign-guess budget, from any networks
        guess = _verify(api, email, _wrong(code), _ip() if n else attacker)
        assert guess.status_code == 400 and guess.json()["error"]["code"] == "invalid_code"
    refused = _verify(api, email, code, attacker)  # even the right code, past the budget
    assert refused.status_code == 429, refused.text
    assert _verify(api, email, code, victim).status_code == 201


def test_a_code_can_be_used_from_another_network(api, stack) -> None:
    email = _email()
    assert _start(api, email, _ip()).status_code == 202
    assert _verify(api, email, mail_code(stack, email), _ip()).status_code == 201


def test_a_networks_own_code_allows_five_wrong_guesses(api, stack) -> None:
    email, ip = _email(), _ip()
    assert _start(api, email, ip).status_code == 202
    code = mail_code(stack, email)
    for _ in range(5):
        assert _verify(api, email, _wrong(code), ip).status_code == 400
    assert _verify(api, email, code, ip).status_code == 429
