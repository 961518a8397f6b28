"""Coinbase webhook bodies are decoded depth-safe, after the signature check."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.providers import coinbase


@pytest.fixture(autouse=True)
def _local_settings(monkeypatch: pytest.MonkeyPatch):
    # Settings as a local stack has them (emulators: local secrets allowed).
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:7")
    monkeypatch.setenv("COINBASE_COMMERCE_WEBHOOK_SECRET", "unit-test-coinbase-secret")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _signed(payload: bytes) -> str:
    secret = get_settings().coinbase_webhook_secret.encode()
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def test_signed_deeply_nested_coinbase_body_is_invalid_not_a_crash() -> None:
    payload = b'{"event": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(AppError) as caught:
        coinbase.verified_event(payload, _signed(payload))
    assert caught.value.kind is ErrorKind.INVALID


def test_signed_coinbase_body_that_is_not_json_is_invalid() -> None:
    payload = b"\xff\xfenot json"
    with pytest.raises(AppError) as caught:
        coinbase.verified_event(payload, _signed(payload))
    assert caught.value.kind is ErrorKind.INVALID


def test_signed_coinbase_event_is_returned() -> None:
    event = {"id": "evt-1", "type": "charge:confirmed", "data": {"code": "C1"}}
    payload = json.dumps({"event": event}).encode()
    assert coinbase.verified_event(payload, _signed(payload)) == event
