"""Reservations: money set aside on one balance shard before it becomes a hold or a debit.

What can never happen:
- A reservation overdraws a shard unnoticed. A reservation is one batch that creates
  `reservations/<id>` and decrements the shard's `available_micros` by `Increment`, whose
  result Firestore returns (fetch-and-add, no lock). A result below zero means the request
  lost a race: it undoes its own decrement before anyone is told, so an accepted
  reservation is always covered and a dip is never reported as available money.
- A reservation is spent or returned twice: spending (ledger.hold_writes, ledger.debit) and
  returning (`undo_reservation`) both delete the reservation document with an `exists`
  precondition in the same batch as the shard change.
- Money stays stuck in a crashed request's reservation: the sweep returns reservations
  older than STALE_RESERVATION (`expire_reservations`).

Reservations are not money movements (balance and held do not change), so they have no
ledger entry. The account's shards (`accounts/<id>/shards/<k>`) live here too.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from typing import Any

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.store import (
    ACCOUNTS,
    CONFLICTS,
    RESERVATIONS,
    SHARDS,
    commit,
    db,
    increment,
    transform_value,
)

RESERVE_DEADLINE_S = 5.0
STALE_RESERVATION = dt.timedelta(minutes=2)
# Each account's shard availability as this process last saw it (a read, or a reservation's
# own decrement result): a hint for which shard to try first, so a submit whose last known
# shard still covers it reserves without reading the shards. Only a hint: the atomic
# decrement decides, so a stale one costs an undone attempt and a read, never money.
_LAST_SEEN: dict[str, dict[int, int]] = {}
_LAST_SEEN_MAX = 10_000


def shard_ref(account_id: str, shard: int) -> Any:
    return db().collection(ACCOUNTS).document(account_id).collection(SHARDS).document(str(shard))


def shard_refs(account_id: str) -> list[Any]:
    return [shard_ref(account_id, k) for k in range(get_settings().ledger_shards)]


def read_shards(account_id: str) -> dict[int, dict[str, int]]:
    return read_shards_with(account_id, [])[0]


def read_shards_with(
    account_id: str, refs: list[Any]
) -> tuple[dict[int, dict[str, int]], list[Any]]:
    """The account's shards and the documents `refs` (snapshots, in order), in one
    round trip."""
    shard_docs = shard_refs(account_id)
    snaps = {s.reference.path: s for s in db().get_all([*shard_docs, *refs])}
    shards = {}
    for ref in shard_docs:
        data = snaps[ref.path].to_dict() or {}
        shards[int(ref.id)] = {
            "balance_micros": int(data.get("balance_micros", 0)),
            "held_micros": int(data.get("held_micros", 0)),
            "available_micros": int(data.get("available_micros", 0)),
        }
    _remember(account_id, {k: s["available_micros"] for k, s in shards.items()})
    return shards, [snaps[ref.path] for ref in refs]


def _remember(account_id: str, available: dict[int, int]) -> None:
    if len(_LAST_SEEN) >= _LAST_SEEN_MAX and account_id not in _LAST_SEEN:
        _LAST_SEEN.clear()  # a bounded hint, not a cache anyone relies on
    _LAST_SEEN[account_id] = {**_LAST_SEEN.get(account_id, {}), **available}


def _hinted_shard(account_id: str, micros: int) -> int | None:
    """A shard that covered `micros` when this process last saw it, if any."""
    seen = _LAST_SEEN.get(account_id) or {}
    covering = [k for k, v in seen.items() if v >= micros]
    return random.choice(covering) if covering else None


def clear_stale_reservation(reservation_id: str) -> bool:
    """Undo reservation `reservation_id` if a crashed attempt left it (older than
    STALE_RESERVATION). True when it is gone (undone here or meanwhile)."""
    snap = reservation_ref(reservation_id).get()
    if not snap.exists:
        return True
    data = snap.to_dict() or {}
    if data["created_at"] > clock.now() - STALE_RESERVATION:
        return False
    undo_reservation(
        account_id=data["account_id"],
        reservation_id=reservation_id,
        shard=int(data["shard"]),
        micros=int(data["micros"]),
    )
    return True


def exists_option() -> Any:
    from google.cloud import firestore

    return firestore.Client.write_option(exists=True)


def reservation_ref(reservation_id: str) -> Any:
    return db().collection(RESERVATIONS).document(reservation_id)


def is_reserved(reservation_id: str) -> bool:
    """Whether money is set aside under `reservation_id` right now (in flight, not spent)."""
    return bool(reservation_ref(reservation_id).get().exists)


def _try_reserve(account_id: str, reservation_id: str, shard: int, micros: int) -> bool:
    """Reserve on one shard. Raises CONFLICTS when a reservation `reservation_id` exists
    (another attempt's); False when the shard could not cover it (undone)."""
    attempt = uuid.uuid4().hex
    batch = db().batch()
    batch.create(
        reservation_ref(reservation_id),
        {
            "account_id": account_id,
            "shard": shard,
            "micros": micros,
            "attempt": attempt,
            "created_at": clock.now(),
        },
    )
    batch.set(shard_ref(account_id, shard), {"available_micros": increment(-micros)}, merge=True)
    try:
        results = commit(batch, label="ledger.reserve")
        left = transform_value(results[1])
    except CONFLICTS:
        snap = reservation_ref(reservation_id).get()
        if not (snap.exists and (snap.to_dict() or {}).get("attempt") == attempt):
            raise
        # Our reservation landed but its answer was lost: it is covered if the shard, read
        # now, is not below zero (every reservation on it, ours included, is subtracted).
        left = read_shards(account_id)[shard]["available_micros"]
    if left >= 0:
        _remember(account_id, {shard: left})
        return True
    _LAST_SEEN.pop(account_id, None)
    undo_reservation(
        account_id=account_id, reservation_id=reservation_id, shard=shard, micros=micros
    )
    return False


def undo_reservation(*, account_id: str, reservation_id: str, shard: int, micros: int) -> bool:
    """Give a reservation's money back. A no-op when it was already spent or undone."""
    batch = db().batch()
    batch.delete(reservation_ref(reservation_id), option=exists_option())
    batch.set(shard_ref(account_id, shard), {"available_micros": increment(micros)}, merge=True)
    try:
        commit(batch, label="ledger.unreserve")
    except CONFLICTS:
        return False
    return True


def reserve(*, account_id: str, reservation_id: str, micros: int) -> int:
    """Set `micros` aside on one shard; returns the shard. Raises INSUFFICIENT_FUNDS.

    First the shard this process last saw covering it (no read), else the shards whose
    read shows enough; the atomic decrement decides either way.
    A shard seen below zero means another request is undoing an over-reservation, so we
    wait briefly instead of refusing money that is about to come back.
    """
    deadline = time.monotonic() + RESERVE_DEADLINE_S
    hinted = _hinted_shard(account_id, micros)
    if hinted is not None and _try_reserve(account_id, reservation_id, hinted, micros):
        return hinted
    while True:
        shards = read_shards(account_id)
        avail = {k: s["available_micros"] for k, s in shards.items()}
        candidates = [k for k, v in avail.items() if v >= micros]
        random.shuffle(candidates)
        candidates.sort(key=lambda k: -avail[k])
        for shard in candidates:
            if _try_reserve(account_id, reservation_id, shard, micros):
                return shard
        total = sum(max(0, v) for v in avail.values())
        in_flight = any(v < 0 for v in avail.values())
        if time.monotonic() > deadline or (not candidates and not in_flight and total < micros):
            raise AppError(
                ErrorKind.INSUFFICIENT_FUNDS,
                "Insufficient credits",
                {"available_micros": total, "needed_micros": micros},
            )
        if not candidates and not in_flight and total >= micros:
            consolidate(account_id, target=max(avail, key=lambda k: avail[k]))
            continue
        time.sleep(random.uniform(0.005, 0.03))


def consolidate(account_id: str, *, target: int) -> None:
    """Move every shard's available money into `target` (rare: no one shard covers a hold).

    A transaction, so the moved amounts are exactly what each shard had available; the
    account's total balance does not change, so no ledger entry is written.
    """
    from google.cloud import firestore

    refs = shard_refs(account_id)

    @firestore.transactional
    def move(tx: Any) -> None:
        snaps = list(tx.get_all(refs))
        moved = 0
        updates = []
        for snap in snaps:
            if int(snap.id) == target:
                continue
            data = snap.to_dict() or {}
            amount = int(data.get("available_micros", 0))
            if amount > 0:
                moved += amount
                updates.append((snap.reference, amount))
        for ref, amount in updates:
            tx.set(
                ref,
                {"balance_micros": increment(-amount), "available_micros": increment(-amount)},
                merge=True,
            )
        if moved:
            tx.set(
                refs[target],
                {"balance_micros": increment(moved), "available_micros": increment(moved)},
                merge=True,
            )

    move(db().transaction())


def expire_reservations(*, older_than: dt.timedelta = STALE_RESERVATION) -> int:
    """Return money reserved by requests that died before placing their hold."""
    cutoff = clock.now() - older_than
    returned = 0
    from google.cloud.firestore_v1.base_query import FieldFilter

    stale = db().collection(RESERVATIONS).where(filter=FieldFilter("created_at", "<", cutoff))
    for snap in stale.stream():
        data = snap.to_dict()
        if undo_reservation(
            account_id=data["account_id"],
            reservation_id=snap.id,
            shard=int(data["shard"]),
            micros=int(data["micros"]),
        ):
            returned += 1
    return returned
