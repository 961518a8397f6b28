"""Signing and sealing for outbound webhooks: what a receiver checks, and how a client's
signing secret travels without resting anywhere in plaintext.

What can never happen:
- A signature over anything but the exact body bytes: `sign` is `sha256=<hex>` HMAC-SHA256
  of those bytes under the client's API key (the `X-Vibe-Signature` value), and `verify`
  compares in constant time.
- A sealed secret opens for another context or after tampering: sealing is AES-256-GCM under
  a key derived (HKDF-SHA256) from the server's webhook key, with the context (the job id) as
  associated data; a token that does not open is AppError(INVALID), never a wrong secret.
- Sealing under a placeholder key outside local emulators: that is AppError(INTERNAL).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
from typing import Any

from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import PLACEHOLDER_SECRETS, get_settings

SIGNATURE_HEADER = "X-Vibe-Signature"

_SEAL_VERSION = "v1"
_SEAL_INFO = b"relay/webhook-secret-seal/v1"


# -- signing -----------------------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """The `X-Vibe-Signature` value: `sha256=` + hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secret: str) -> bool:
    """Whether a signature header value matches `body` under `secret` (constant time)."""
    if not header:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), header.strip().encode())


def verify_headers(
    body: bytes, headers: Any, secret: str, *, header: str = SIGNATURE_HEADER
) -> bool:
    """`verify` reading the signature from a request's headers (any mapping with .get)."""
    return verify(body, headers.get(header), secret)


# -- sealing -----------------------------------------------------------------------------


class Sealer:
    """AES-256-GCM under a key derived (HKDF-SHA256) from one server secret.

    A token is `v1.<urlsafe base64 of nonce || ciphertext || tag>`; the context is the
    associated data, so a token opens only for the context it was sealed for.
    """

    def __init__(self, master_secret: str):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO).derive(
            master_secret.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, secret: str, *, context: str) -> str:
        if not secret or not context:
            raise AppError(ErrorKind.INVALID, "nothing to seal, or no context to bind it to")
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), _associated_data(context))
        return f"{_SEAL_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def unseal(self, token: str, *, context: str) -> str:
        from cryptography.exceptions import InvalidTag

        version, _, encoded = token.partition(".")
        try:
            raw = base64.urlsafe_b64decode(encoded.encode())
            if version != _SEAL_VERSION or len(raw) < 12 + 16:
                raise ValueError("not a sealed secret")
            opened = self._aead.decrypt(raw[:12], raw[12:], _associated_data(context))
        except (ValueError, binascii.Error, InvalidTag) as exc:
            raise AppError(
                ErrorKind.INVALID, "sealed secret does not open for this context"
            ) from exc
        return opened.decode()


def _associated_data(context: str) -> bytes:
    return b"relay webhook secret\x00" + context.encode()


@functools.lru_cache(maxsize=4)
def _sealer_for(master_secret: str) -> Sealer:
    return Sealer(master_secret)


def _sealer() -> Sealer:
    settings = get_settings()
    master = settings.webhook_secret_key
    local = settings.on_emulators and settings.environment != "production"
    if master in PLACEHOLDER_SECRETS and not local:
        raise AppError(ErrorKind.INTERNAL, "webhook sealing key is a placeholder")
    return _sealer_for(master)


def seal(secret: str, *, context: str) -> str:
    """Encrypt a client's signing secret (its API key) for one context (the job id)."""
    return _sealer().seal(secret, context=context)


def unseal(token: str, *, context: str) -> str:
    """Open a sealed secret; AppError(INVALID) when tampered with or for another context."""
    return _sealer().unseal(token, context=context)
