"""The library key: one 64-hex key that opens the Model Manager API.

- Stored as its SHA-256 (what requests are checked against) and sealed with the server's
  key (AES-GCM, shared/engine/webhook_signing.py) so that `relay library key show` can
  print it again; never in plain text.
- `regenerate` replaces it in one write: the old key stops working at once, and every
  browser session opened with it ends (sessions carry the key's generation).
- A Relay API key whose account is an admin opens the library too (docs/decisions.md).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from google.cloud import firestore

from shared.engine import clock, identity, webhook_signing
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.library.records import KEYS

_CONTEXT = "library-key"
REGENERATED_MESSAGE = "API key regenerated. Update your clients with the new key."


def _ref() -> Any:
    return db().collection(KEYS).document("current")


def _new_key() -> str:
    return secrets.token_hex(32)


def _record(key: str, generation: int) -> dict[str, Any]:
    return {
        "key_hash": identity.hash_key(key),
        "sealed": webhook_signing.seal(key, context=_CONTEXT),
        "generation": generation,
        "created_at": clock.now(),
    }


def show() -> str:
    """The current key, created when there is none (concurrent first calls agree)."""

    @firestore.transactional
    def run(tx: Any) -> str:
        snap = _ref().get(transaction=tx)
        if snap.exists:
            return webhook_signing.unseal(snap.get("sealed"), context=_CONTEXT)
        key = _new_key()
        tx.set(_ref(), _record(key, 1))
        return key

    return run(db().transaction())


def regenerate() -> str:
    """A new key; the previous one (and its sessions) stop working at once."""

    @firestore.transactional
    def run(tx: Any) -> str:
        snap = _ref().get(transaction=tx)
        generation = int(snap.get("generation")) + 1 if snap.exists else 1
        key = _new_key()
        tx.set(_ref(), _record(key, generation))
        return key

    return run(db().transaction())


def generation() -> int:
    """The current key's generation (0 when no key was ever made)."""
    snap = _ref().get()
    return int(snap.get("generation")) if snap.exists else 0


def check(raw: str | None) -> int:
    """The generation of the library key `raw` is, or the current generation when `raw` is
    a Relay admin's API key; UNAUTHENTICATED otherwise."""
    if not raw or len(raw) > 256:
        raise AppError(ErrorKind.UNAUTHENTICATED, "Missing or invalid Authorization header")
    snap = _ref().get()
    if snap.exists and hmac.compare_digest(snap.get("key_hash"), identity.hash_key(raw)):
        return int(snap.get("generation"))
    try:
        account = identity.get_account(identity.authenticate_key(raw).account_id)
    except AppError:
        account = None
    if account is not None and account.is_admin:
        return int(snap.get("generation")) if snap.exists else 0
    raise AppError(ErrorKind.UNAUTHENTICATED, "Missing or invalid Authorization header")
