"""Webhook signatures (the `X-Vibe-Signature` scheme) and sealed signing secrets."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools

import pytest

from shared.engine import webhook_signing, webhooks
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import Settings
from shared.engine.webhooks import Sealer, sign, verify, verify_headers

BODY = b'{"id":"job-1","status":"completed","output":{"text":"hi"}}'
KEY = "vk_live_0123456789abcdef"


def test_signature_is_sha256_hmac_of_the_exact_body_under_the_key() -> None:
    expected = hmac.new(KEY.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, KEY) == f"sha256={expected}"


def test_signature_matches_a_published_hmac_sha256_vector() -> None:
    # RFC-style vector: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
    assert sign(b"The quick brown fox jumps over the lazy dog", "key") == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


def test_verify_accepts_the_signature_of_the_same_body_and_key() -> None:
    assert verify(BODY, sign(BODY, KEY), KEY)
    assert verify(BODY, f"  {sign(BODY, KEY)} ", KEY)


@pytest.mark.parametrize(
    ("body", "header", "secret"),
    [
        (BODY + b" ", sign(BODY, KEY), KEY),  # one byte more
        (BODY.replace(b"hi", b"ho"), sign(BODY, KEY), KEY),  # tampered body
        (BODY, sign(BODY, KEY), KEY + "x"),  # another key
        (BODY, sign(BODY, KEY).removeprefix("sha256="), KEY),  # bare hex
        (BODY, sign(BODY, KEY).replace("sha256=", "sha1="), KEY),
        (BODY, "", KEY),
        (BODY, None, KEY),
    ],
)
def test_verify_rejects_anything_else(body: bytes, header: str | None, secret: str) -> None:
    assert not verify(body, header, secret)


def test_verify_headers_reads_the_named_header() -> None:
    headers = {"X-Vibe-Signature": sign(BODY, KEY), "X-Other-Signature": sign(b"x", KEY)}
    assert verify_headers(BODY, headers, KEY)
    assert not verify_headers(BODY, headers, KEY, header="X-Other-Signature")
    assert not verify_headers(BODY, {}, KEY)


def test_a_sealed_secret_opens_for_its_own_context() -> None:
    sealer = Sealer("server-webhook-key-" + "k" * 32)
    token = sealer.seal(KEY, context="job-1")
    assert token.startswith("v1.")
    assert KEY not in token
    assert sealer.unseal(token, context="job-1") == KEY


def test_sealing_twice_gives_different_tokens() -> None:
    sealer = Sealer("server-webhook-key")
    assert sealer.seal(KEY, context="job-1") != sealer.seal(KEY, context="job-1")


def _opens(sealer: Sealer, token: str, context: str) -> bool:
    try:
        sealer.unseal(token, context=context)
    except AppError as exc:
        assert exc.kind is ErrorKind.INVALID
        assert KEY not in exc.message
        return False
    return True


def test_a_sealed_secret_does_not_open_for_another_job() -> None:
    sealer = Sealer("server-webhook-key")
    token = sealer.seal(KEY, context="job-1")
    assert not _opens(sealer, token, "job-2")
    assert not _opens(sealer, token, "job-1 ")
    assert not _opens(sealer, token, "")


def test_a_tampered_sealed_secret_does_not_open() -> None:
    sealer = Sealer("server-webhook-key")
    token = sealer.seal(KEY, context="job-1")
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    for index in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        assert not _opens(sealer, "v1." + base64.urlsafe_b64encode(flipped).decode(), "job-1")
    assert not _opens(sealer, "v2." + token[3:], "job-1")
    assert not _opens(sealer, token[:-4], "job-1")
    assert not _opens(sealer, "not a token", "job-1")
    assert not _opens(sealer, KEY, "job-1")


def test_a_secret_sealed_under_another_server_key_does_not_open() -> None:
    token = Sealer("server-key-a").seal(KEY, context="job-1")
    assert not _opens(Sealer("server-key-b"), token, "job-1")


def test_nothing_is_sealed_without_a_secret_and_a_context() -> None:
    sealer = Sealer("server-webhook-key")
    with pytest.raises(AppError):
        sealer.seal("", context="job-1")
    with pytest.raises(AppError):
        sealer.seal(KEY, context="")


def test_the_dev_sealing_key_works_on_the_emulators(monkeypatch: pytest.MonkeyPatch) -> None:
    local = Settings(firestore_emulator_host="127.0.0.1:1")
    monkeypatch.setattr(webhook_signing, "get_settings", lambda: local)
    token = webhooks.seal(KEY, context="job-1")
    assert webhooks.unseal(token, context="job-1") == KEY


@pytest.mark.parametrize(
    "settings",
    [
        Settings(environment="production"),
        Settings(environment="production", firestore_emulator_host="127.0.0.1:1"),
        Settings(environment="local"),  # not on the emulators: a real deployment
    ],
)
def test_a_placeholder_sealing_key_is_refused_outside_the_emulators(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setattr(webhook_signing, "get_settings", lambda: settings)
    with pytest.raises(AppError) as caught:
        webhooks.seal(KEY, context="job-1")
    assert "placeholder" in caught.value.message


@pytest.mark.skipif(
    "webhook_secret_key" not in Settings.model_fields,
    reason="Settings.webhook_secret_key (RELAY_WEBHOOK_KEY) is not declared yet",
)
def test_a_real_sealing_key_works_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    production = Settings.model_validate(
        {"environment": "production", "webhook_secret_key": "w" * 48}
    )
    monkeypatch.setattr(webhook_signing, "get_settings", lambda: production)
    token = webhooks.seal(KEY, context="job-1")
    assert webhooks.unseal(token, context="job-1") == KEY
    other = Settings.model_validate({"environment": "production", "webhook_secret_key": "x" * 48})
    monkeypatch.setattr(webhook_signing, "get_settings", lambda: other)
    with pytest.raises(AppError):
        webhooks.unseal(token, context="job-1")


def test_the_body_is_serialised_once_compactly() -> None:
    assert webhooks.serialise({"b": 1, "a": [1, "é"]}) == b'{"b":1,"a":[1,"\\u00e9"]}'


def test_retry_waits_grow_exponentially_and_are_capped() -> None:
    delays = [webhooks.retry_delay(n) for n in range(1, webhooks.MAX_ATTEMPTS)]
    assert delays[:3] == [dt.timedelta(seconds=s) for s in (2, 8, 32)]
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    assert webhooks.retry_delay(50) == webhooks.BACKOFF_CAP
