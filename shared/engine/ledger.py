"""The ledger: every movement of money, in integer USD micros, exactly once.

What can never happen:
- A balance changes without a ledger entry. Every change is an entry `ledger/<kind>:<ref>`
  created in the same atomic batch as the balance it moves; creating an entry that exists
  fails the whole batch, so a retried webhook, task or callback is a no-op.
- Money is spent twice. An account's money sits in shards
  (`accounts/<id>/shards/<k>`, the distributed-counter pattern) holding `balance_micros`,
  `held_micros` and `available_micros` (= balance - held - open reservations). Spending
  first *reserves* on one shard by an atomic decrement whose result Firestore returns
  (fetch-and-add, no read-modify-write transaction, no hot lock). A reservation that
  leaves the shard below zero is undone before anyone is told it succeeded, so an
  accepted hold is always covered; the brief dip is never reported as available money.
- A job is settled twice: capture and release both go through `settle_writes`, whose
  caller commits them with a precondition on the job document (see shared/engine/jobs.py).
- A balance goes negative: balance only falls by capturing held money or by spending a
  reservation, both already covered.

Reservations left behind by a crashed request are returned by the sweep
(`expire_reservations`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.store import (
    ACCOUNTS,
    CONFLICTS,
    LEDGER,
    RESERVATIONS,
    SHARDS,
    commit,
    db,
    increment,
)

RESERVE_DEADLINE_S = 5.0
DEBIT_WAIT_S = 2.0  # how long a debit waits for the same debit in flight elsewhere
STALE_RESERVATION = dt.timedelta(minutes=2)


class EntryKind(StrEnum):
    GRANT = "grant"
    TOPUP = "topup"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    EARNING = "earning"  # a grid worker's or a creator's share of a capture
    REVENUE = "revenue"  # the platform's share of a capture
    PAYOUT = "payout"
    REFUND = "refund"  # a top-up given back by the payment provider
    CHARGEBACK = "chargeback"  # a disputed top-up taken back
    COMMISSION = "commission"  # an affiliate's share of a referred account's top-up
    EXPENSE = "expense"  # the platform paying out of its own pocket (grid worker earnings)
    REINSTATEMENT = "reinstatement"  # a won dispute gives back what its chargeback took


# The platform's own account: its revenue entries make captured = earnings + revenue.
PLATFORM_ACCOUNT = "platform"
EARNINGS_SUFFIX = ":earnings"


def earnings_account(account_id: str) -> str:
    """The ledger account that holds what a person earned (worker earnings, creator
    earnings, affiliate commissions): the only money a payout may draw on. Same shards and
    entries as the prepaid account `account_id`, kept apart from it."""
    return account_id + EARNINGS_SUFFIX


@dataclass(frozen=True)
class Balance:
    balance_micros: int
    held_micros: int
    available_micros: int


def entry_id(kind: EntryKind, ref: str) -> str:
    return f"{kind}:{ref}"


def _shard_ref(account_id: str, shard: int) -> Any:
    return db().collection(ACCOUNTS).document(account_id).collection(SHARDS).document(str(shard))


def _shard_refs(account_id: str) -> list[Any]:
    return [_shard_ref(account_id, k) for k in range(get_settings().ledger_shards)]


def _entry(
    *,
    account_id: str,
    kind: EntryKind,
    ref: str,
    shard: int,
    balance_delta: int,
    held_delta: int,
    job_id: str | None = None,
    memo: str = "",
    attempt: str = "",
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "kind": str(kind),
        "ref": ref,
        "job_id": job_id,
        "shard": shard,
        "balance_delta_micros": balance_delta,
        "held_delta_micros": held_delta,
        "memo": memo,
        # Which attempt wrote the entry: a commit whose response was lost recognises its own.
        "attempt": attempt,
        "created_at": clock.now(),
    }


def read_shards(account_id: str) -> dict[int, dict[str, int]]:
    shards = {}
    for snap in db().get_all(_shard_refs(account_id)):
        data = snap.to_dict() or {}
        shards[int(snap.id)] = {
            "balance_micros": int(data.get("balance_micros", 0)),
            "held_micros": int(data.get("held_micros", 0)),
            "available_micros": int(data.get("available_micros", 0)),
        }
    return shards


def balance(account_id: str) -> Balance:
    shards = read_shards(account_id).values()
    return Balance(
        balance_micros=sum(s["balance_micros"] for s in shards),
        held_micros=sum(s["held_micros"] for s in shards),
        # A shard dips below zero only while a rejected reservation is being undone.
        available_micros=sum(max(0, s["available_micros"]) for s in shards),
    )


def credit(*, account_id: str, kind: EntryKind, ref: str, micros: int, memo: str = "") -> bool:
    """Add money. Returns False when this entry was already applied (nothing changes)."""
    attempt = uuid.uuid4().hex
    batch = db().batch()
    credit_writes(
        batch,
        account_id=account_id,
        kind=kind,
        ref=ref,
        micros=micros,
        memo=memo,
        attempt=attempt,
    )
    try:
        commit(batch, label="ledger.credit")
    except CONFLICTS:
        return _written_by(entry_id(kind, ref), attempt)
    return True


def _written_by(eid: str, attempt: str) -> bool:
    """After a conflicting commit: did *this* attempt write entry `eid` (a landed commit
    whose response was lost), rather than an earlier delivery of the same cause?"""
    snap = db().collection(LEDGER).document(eid).get()
    return snap.exists and (snap.to_dict() or {}).get("attempt") == attempt


def credit_writes(
    batch: Any,
    *,
    account_id: str,
    kind: EntryKind,
    ref: str,
    micros: int,
    memo: str = "",
    job_id: str | None = None,
    attempt: str = "",
) -> int:
    """The writes of a credit, in the caller's batch (e.g. a worker's earning, committed
    with the job's settlement). Returns the shard credited."""
    if micros <= 0:
        raise AppError(ErrorKind.INVALID, "credit amount must be positive")
    eid = entry_id(kind, ref)
    shard = int(hashlib.sha256(eid.encode()).hexdigest(), 16) % get_settings().ledger_shards
    batch.create(
        db().collection(LEDGER).document(eid),
        _entry(
            account_id=account_id,
            kind=kind,
            ref=ref,
            shard=shard,
            balance_delta=micros,
            held_delta=0,
            job_id=job_id,
            memo=memo,
            attempt=attempt,
        ),
    )
    batch.set(
        _shard_ref(account_id, shard),
        {"balance_micros": increment(micros), "available_micros": increment(micros)},
        merge=True,
    )
    return shard


def covered_debit_writes(
    batch: Any, *, account_id: str, kind: EntryKind, ref: str, micros: int, shard: int, memo: str
) -> None:
    """A debit paid out of a credit of at least `micros` that the same batch writes to
    `shard` (e.g. a refund that arrived before the top-up it refunds, applied with it), so
    it needs no reservation: the batch as a whole never lowers what the shard had."""
    if micros <= 0:
        raise AppError(ErrorKind.INVALID, "debit amount must be positive")
    batch.create(
        db().collection(LEDGER).document(entry_id(kind, ref)),
        _entry(
            account_id=account_id,
            kind=kind,
            ref=ref,
            shard=shard,
            balance_delta=-micros,
            held_delta=0,
            memo=memo,
        ),
    )
    batch.set(
        _shard_ref(account_id, shard),
        {"balance_micros": increment(-micros), "available_micros": increment(-micros)},
        merge=True,
    )


def debit(
    *, account_id: str, kind: EntryKind, ref: str, micros: int, memo: str = "", extra: Any = None
) -> bool:
    """Take money out (a payout, a refund): reserve it, then one batch writes the entry
    and the balance. Raises INSUFFICIENT_FUNDS; returns False only when the entry exists
    (already applied). The same debit in flight elsewhere raises CONFLICT (retry); one
    left by a crashed attempt (a reservation older than STALE_RESERVATION) is undone and
    this debit goes ahead. `extra(batch)` may add writes that must land with the debit."""
    if micros <= 0:
        raise AppError(ErrorKind.INVALID, "debit amount must be positive")
    eid = entry_id(kind, ref)
    deadline = time.monotonic() + DEBIT_WAIT_S
    while True:
        if db().collection(LEDGER).document(eid).get().exists:
            return False
        try:
            shard = reserve(account_id=account_id, reservation_id=eid, micros=micros)
            break
        except CONFLICTS:
            pass  # a reservation with this id exists: in flight, or left by a crash
        if _clear_stale_reservation(eid):
            continue
        if time.monotonic() > deadline:
            raise AppError(
                ErrorKind.CONFLICT,
                "this payment is being applied by another request; retry",
                {"code": "debit_in_progress"},
            )
        time.sleep(0.05)
    attempt = uuid.uuid4().hex
    batch = db().batch()
    batch.delete(_reservation_ref(eid), option=_exists())
    batch.create(
        db().collection(LEDGER).document(eid),
        _entry(
            account_id=account_id,
            kind=kind,
            ref=ref,
            shard=shard,
            balance_delta=-micros,
            held_delta=0,
            memo=memo,
            attempt=attempt,
        ),
    )
    batch.set(_shard_ref(account_id, shard), {"balance_micros": increment(-micros)}, merge=True)
    if extra is not None:
        extra(batch)
    try:
        commit(batch, label="ledger.debit")
    except CONFLICTS:
        if _written_by(eid, attempt):
            return True
        # Our reservation was taken back (it went stale) or the entry exists: give the
        # reservation back if it is still ours to give; then report the entry's state.
        undo_reservation(account_id=account_id, reservation_id=eid, shard=shard, micros=micros)
        if db().collection(LEDGER).document(eid).get().exists:
            return False
        raise AppError(
            ErrorKind.CONFLICT, "the debit was interrupted; retry", {"code": "debit_in_progress"}
        ) from None
    return True


def _clear_stale_reservation(reservation_id: str) -> bool:
    """Undo reservation `reservation_id` if a crashed attempt left it (older than
    STALE_RESERVATION). True when it is gone (undone here or meanwhile)."""
    snap = _reservation_ref(reservation_id).get()
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


def _exists() -> Any:
    from google.cloud import firestore

    return firestore.Client.write_option(exists=True)


def house_debit_writes(
    batch: Any,
    *,
    kind: EntryKind,
    ref: str,
    micros: int,
    memo: str = "",
    job_id: str | None = None,
) -> None:
    """The platform (the house) pays `micros`, in the caller's batch, with no reservation:
    the platform account alone may go below zero (e.g. grid worker earnings, which the
    free tier's clients do not pay for)."""
    if micros <= 0:
        raise AppError(ErrorKind.INVALID, "debit amount must be positive")
    eid = entry_id(kind, ref)
    shard = int(hashlib.sha256(eid.encode()).hexdigest(), 16) % get_settings().ledger_shards
    batch.create(
        db().collection(LEDGER).document(eid),
        _entry(
            account_id=PLATFORM_ACCOUNT,
            kind=kind,
            ref=ref,
            shard=shard,
            balance_delta=-micros,
            held_delta=0,
            job_id=job_id,
            memo=memo,
        ),
    )
    batch.set(
        _shard_ref(PLATFORM_ACCOUNT, shard),
        {"balance_micros": increment(-micros), "available_micros": increment(-micros)},
        merge=True,
    )


# --- spending: reserve, then turn the reservation into a hold ---------------------------


def _reservation_ref(reservation_id: str) -> Any:
    return db().collection(RESERVATIONS).document(reservation_id)


def _try_reserve(account_id: str, reservation_id: str, shard: int, micros: int) -> bool:
    """Reserve on one shard. Raises CONFLICTS when a reservation `reservation_id` exists
    (another attempt's); False when the shard could not cover it (undone)."""
    attempt = uuid.uuid4().hex
    batch = db().batch()
    batch.create(
        _reservation_ref(reservation_id),
        {
            "account_id": account_id,
            "shard": shard,
            "micros": micros,
            "attempt": attempt,
            "created_at": clock.now(),
        },
    )
    batch.set(_shard_ref(account_id, shard), {"available_micros": increment(-micros)}, merge=True)
    try:
        results = commit(batch, label="ledger.reserve")
        left = int(results[1].transform_results[0].integer_value)
    except CONFLICTS:
        snap = _reservation_ref(reservation_id).get()
        if not (snap.exists and (snap.to_dict() or {}).get("attempt") == attempt):
            raise
        # Our reservation landed but its answer was lost: it is covered if the shard, read
        # now, is not below zero (every reservation on it, ours included, is subtracted).
        left = read_shards(account_id)[shard]["available_micros"]
    if left >= 0:
        return True
    undo_reservation(
        account_id=account_id, reservation_id=reservation_id, shard=shard, micros=micros
    )
    return False


def undo_reservation(*, account_id: str, reservation_id: str, shard: int, micros: int) -> bool:
    """Give a reservation's money back. A no-op when it was already spent or undone."""
    batch = db().batch()
    batch.delete(_reservation_ref(reservation_id), option=_exists())
    batch.set(_shard_ref(account_id, shard), {"available_micros": increment(micros)}, merge=True)
    try:
        commit(batch, label="ledger.unreserve")
    except CONFLICTS:
        return False
    return True


def reserve(*, account_id: str, reservation_id: str, micros: int) -> int:
    """Set `micros` aside on one shard; returns the shard. Raises INSUFFICIENT_FUNDS.

    Candidates are the shards whose last read shows enough; the atomic decrement decides.
    A shard seen below zero means another request is undoing an over-reservation, so we
    wait briefly instead of refusing money that is about to come back.
    """
    deadline = time.monotonic() + RESERVE_DEADLINE_S
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
            _consolidate(account_id, target=max(avail, key=lambda k: avail[k]))
            continue
        time.sleep(random.uniform(0.005, 0.03))


def _consolidate(account_id: str, *, target: int) -> None:
    """Move every shard's available money into `target` (rare: no one shard covers a hold).

    A transaction, so the moved amounts are exactly what each shard had available; the
    account's total balance does not change, so no ledger entry is written.
    """
    from google.cloud import firestore

    refs = _shard_refs(account_id)

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


def hold_writes(
    batch: Any, *, account_id: str, job_id: str, shard: int, micros: int, ref: str | None = None
) -> None:
    """Turn reservation `ref` into the job's hold, in the caller's batch.

    `ref` names this hold: the job id, or `<job>:r<n>` for the n-th retry of a job, so
    every run of a job is held and settled exactly once.
    """
    from google.cloud import firestore

    ref = ref or job_id
    batch.delete(_reservation_ref(ref), option=firestore.Client.write_option(exists=True))
    batch.create(
        db().collection(LEDGER).document(entry_id(EntryKind.HOLD, ref)),
        _entry(
            account_id=account_id,
            kind=EntryKind.HOLD,
            ref=ref,
            shard=shard,
            balance_delta=0,
            held_delta=micros,
            job_id=job_id,
        ),
    )
    batch.set(_shard_ref(account_id, shard), {"held_micros": increment(micros)}, merge=True)


def settle_writes(
    batch: Any,
    *,
    account_id: str,
    job_id: str,
    shard: int,
    held_micros: int,
    capture_micros: int,
    ref: str | None = None,
) -> None:
    """Capture part or all of a job's hold (the rest returns), or release it (capture 0).

    The caller commits this with a precondition on the job document, which is what makes
    a job settle at most once.
    """
    if not 0 <= capture_micros <= held_micros:
        raise ValueError("capture must be between 0 and the hold")
    kind = EntryKind.CAPTURE if capture_micros else EntryKind.RELEASE
    ref = ref or job_id
    batch.create(
        db().collection(LEDGER).document(entry_id(kind, ref)),
        _entry(
            account_id=account_id,
            kind=kind,
            ref=ref,
            shard=shard,
            balance_delta=-capture_micros,
            held_delta=-held_micros,
            job_id=job_id,
        ),
    )
    batch.set(
        _shard_ref(account_id, shard),
        {
            "balance_micros": increment(-capture_micros),
            "held_micros": increment(-held_micros),
            "available_micros": increment(held_micros - capture_micros),
        },
        merge=True,
    )


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


def entries(account_id: str) -> list[dict[str, Any]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db().collection(LEDGER).where(filter=FieldFilter("account_id", "==", account_id))
    return [{"id": snap.id, **snap.to_dict()} for snap in query.stream()]
