"""Idempotency records: which job a client's `(account, Idempotency-Key)` already created.

What can never happen:
- One key creates two jobs: the record `idempotency/<sha256(account:key)>` is created in the
  same atomic batch as the job and its hold (see shared/engine/jobs.py submit), so exactly one
  of any number of racing submits lands it; the others answer with the job it names.
- A key answers for another request: the record keeps the first request's fingerprint; the
  same key with a different fingerprint is refused (CONFLICT, code IDEMPOTENCY_KEY_REUSED)
  before any money moves.
- A key answers for another account: the account is part of the record's id.
The job id is never derived from the key; the record maps key -> job id.

A record is kept at least RETENTION (30 days): it carries `expires_at`, and a Firestore TTL
policy on `idempotency.expires_at` (infra/firestore/firestore.indexes.json) deletes it
some time after that (TTL deletion lags, typically under a day). Once it is gone the key is
free again: the money reservation a keyed submit uses is deleted when spent, so a later
submit with that key is a new request, not a conflict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db

IDEMPOTENCY = "idempotency"
MAX_KEY_LENGTH = 255
REUSED = "IDEMPOTENCY_KEY_REUSED"
# Far past any client's retry horizon (Stripe keeps keys 24 h; a client that queued a
# request offline for days must still not pay twice), and a record costs one small document.
RETENTION = dt.timedelta(days=30)
EXPIRES_AT = "expires_at"  # the field the TTL policy reads


def validate_key(key: str) -> str:
    """A key is 1..255 printable ASCII characters (space to tilde); INVALID otherwise."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise AppError(
            ErrorKind.INVALID,
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
        )
    return key


def record_id(*, account_id: str, key: str) -> str:
    return hashlib.sha256(f"{account_id}:{key}".encode()).hexdigest()


def reservation_id(*, account_id: str, key: str) -> str:
    """The money reservation every submit with this key uses: a second concurrent submit
    collides on it before reserving anything, so racing retries never hold twice."""
    return f"idem-{record_id(account_id=account_id, key=key)}"


def _ref(*, account_id: str, key: str) -> Any:
    return db().collection(IDEMPOTENCY).document(record_id(account_id=account_id, key=key))


def create_writes(
    batch: Any, *, account_id: str, key: str, job_id: str, fingerprint: str | None
) -> None:
    """Add the record to the submit's batch (create: fails the batch when it exists)."""
    now = clock.now()
    batch.create(
        _ref(account_id=account_id, key=key),
        {
            "account_id": account_id,
            "job_id": job_id,
            "request_fingerprint": fingerprint,
            "created_at": now,
            EXPIRES_AT: now + RETENTION,
        },
    )


def lookup(
    *, account_id: str, key: str, fingerprint: str | None, wait_s: float = 0.0
) -> str | None:
    """The job id this key created, or None; raises CONFLICT when the key was used for a
    request with another fingerprint. With `wait_s`, a racing submit of the same key is
    given that long to land its record; still none then is a CONFLICT (retry later)."""
    deadline = time.monotonic() + wait_s
    while True:
        snap = _ref(account_id=account_id, key=key).get()
        if snap.exists:
            break
        if not wait_s:
            return None
        if time.monotonic() > deadline:
            raise AppError(
                ErrorKind.CONFLICT, "a request with this idempotency key is in flight, retry"
            )
        time.sleep(0.05)
    data = snap.to_dict()
    if data.get("request_fingerprint") != fingerprint:
        raise AppError(
            ErrorKind.CONFLICT,
            "Idempotency-Key was already used with a different request",
            {"code": REUSED},
        )
    return str(data["job_id"])


def find_job_id(*, account_id: str, key: str) -> str | None:
    """The job id this key created, whatever its request was."""
    snap = _ref(account_id=account_id, key=key).get()
    return str(snap.to_dict()["job_id"]) if snap.exists else None
