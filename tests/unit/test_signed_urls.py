"""V4 signing and expiry (the storage emulator checks neither, so they are proven here)."""

import datetime as dt
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from infra.local.signing_key import write_key
from shared.engine import outputs, settings


@pytest.fixture
def signing(tmp_path, monkeypatch):
    key_file = tmp_path / "sa.json"
    write_key(key_file)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("RELAY_SIGNING_KEY_FILE", str(key_file))
    settings.get_settings.cache_clear()
    outputs._signing_credentials.cache_clear()
    from shared.engine import clients

    clients.storage_client.cache_clear()
    yield key_file
    settings.get_settings.cache_clear()
    outputs._signing_credentials.cache_clear()
    clients.storage_client.cache_clear()


def test_url_is_v4_signed_and_valid_until_completion_plus_48h(signing) -> None:
    now = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
    url = outputs.signed_url("outputs/j/0.png", expires_at=now + dt.timedelta(hours=48), now=now)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
    assert query["X-Goog-Expires"] == [str(48 * 3600)]
    assert len(query["X-Goog-Signature"][0]) == 512  # hex RSA-2048 signature


def test_signature_verifies_with_the_signing_key(signing) -> None:
    import hashlib
    import json

    now = dt.datetime.now(dt.UTC)
    url = outputs.signed_url("outputs/j/0.png", expires_at=now + dt.timedelta(hours=1), now=now)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    signature = bytes.fromhex(query.pop("X-Goog-Signature")[0])
    canonical_query = "&".join(f"{k}={quote(v[0], safe='')}" for k, v in sorted(query.items()))
    request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = query["X-Goog-Credential"][0].split("/", 1)[1]
    to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            query["X-Goog-Date"][0],
            scope,
            hashlib.sha256(request.encode()).hexdigest(),
        ]
    )
    info = json.loads(signing.read_text())
    key = serialization.load_pem_private_key(info["private_key"].encode(), None).public_key()
    # Raises InvalidSignature unless the URL was signed by this key over this request.
    key.verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_expired_outputs_get_no_url(signing) -> None:
    now = dt.datetime.now(dt.UTC)
    assert (
        outputs.signed_url("outputs/j/0.png", expires_at=now - dt.timedelta(seconds=1), now=now)
        is None
    )
