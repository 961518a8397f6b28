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

import hashlib
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.reservations import (  # re-exported: callers spend through the ledger
    STALE_RESERVATION as STALE_RESERVATION,
)
from shared.engine.reservations import (
    clear_stale_reservation,
    exists_option,
    read_shards_with,
    reservation_ref,
    shard_ref,
)
from shared.engine.reservations import consolidate as consolidate
from shared.engine.reservations import expire_reservations as expire_reservations
from shared.engine.reservations import is_reserved as is_reserved
from shared.engine.reservations import read_shards as read_shards
from shared.engine.reservations import reserve as reserve
from shared.engine.reservations import undo_reservation as undo_reservation
from shared.engine.settings import get_settings
from shared.engine.store import (
    CONFLICTS,
    LEDGER,
    commit,
    db,
    increment,
)

DEBIT_WAIT_S = 2.0  # how long a debit waits for the same debit in flight elsewhere


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
    PAYOUT_REVERSAL = "payout_reversal"  # a failed or reversed payout returns to earnings


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


def _shard_for(eid: str) -> int:
    """The shard an unreserved entry lands on: fixed by its id, so a retry picks the same."""
    return int(hashlib.sha256(eid.encode()).hexdigest(), 16) % get_settings().ledger_shards


def _write_entry(batch: Any, **fields: Any) -> None:
    """Create entry `ledger/<kind>:<ref>` in the caller's batch: the batch fails as a whole
    when it exists, which is what makes every movement of money happen once."""
    batch.create(
        db().collection(LEDGER).document(entry_id(fields["kind"], fields["ref"])),
        _entry(**fields),
    )


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


def balance(account_id: str) -> Balance:
    return _balance(read_shards(account_id).values())


def balance_with(account_id: str, refs: list[Any]) -> tuple[Balance, list[Any]]:
    """The balance and the documents `refs` (snapshots, in order), in one round trip."""
    shards, snaps = read_shards_with(account_id, refs)
    return _balance(shards.values()), snaps


def _balance(shards: Any) -> Balance:
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
    shard = _shard_for(eid)
    _write_entry(
        batch,
        account_id=account_id,
        kind=kind,
        ref=ref,
        shard=shard,
        balance_delta=micros,
        held_delta=0,
        job_id=job_id,
        memo=memo,
        attempt=attempt,
    )
    batch.set(
        shard_ref(account_id, shard),
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
    _unreserved_debit_writes(
        batch, account_id=account_id, kind=kind, ref=ref, micros=micros, shard=shard, memo=memo
    )


def _unreserved_debit_writes(
    batch: Any,
    *,
    account_id: str,
    kind: EntryKind,
    ref: str,
    micros: int,
    shard: int,
    memo: str,
    job_id: str | None = None,
) -> None:
    """The entry and shard change of a debit that needs no reservation (its callers say
    why it is covered, or that the account is the house)."""
    if micros <= 0:
        raise AppError(ErrorKind.INVALID, "debit amount must be positive")
    _write_entry(
        batch,
        account_id=account_id,
        kind=kind,
        ref=ref,
        shard=shard,
        balance_delta=-micros,
        held_delta=0,
        job_id=job_id,
        memo=memo,
    )
    batch.set(
        shard_ref(account_id, shard),
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
        except AppError as exc:
            # The same debit in flight elsewhere may hold the very money this one needs:
            # that is "being applied" (wait, then answer as applied), not "insufficient".
            if exc.kind is not ErrorKind.INSUFFICIENT_FUNDS:
                raise
            if db().collection(LEDGER).document(eid).get().exists:
                return False
            if not is_reserved(eid):
                raise
        if clear_stale_reservation(eid):
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
    batch.delete(reservation_ref(eid), option=exists_option())
    _write_entry(
        batch,
        account_id=account_id,
        kind=kind,
        ref=ref,
        shard=shard,
        balance_delta=-micros,
        held_delta=0,
        memo=memo,
        attempt=attempt,
    )
    batch.set(shard_ref(account_id, shard), {"balance_micros": increment(-micros)}, merge=True)
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
    eid = entry_id(kind, ref)
    shard = _shard_for(eid)
    _unreserved_debit_writes(
        batch,
        account_id=PLATFORM_ACCOUNT,
        kind=kind,
        ref=ref,
        micros=micros,
        shard=shard,
        memo=memo,
        job_id=job_id,
    )


# --- spending: a reservation (shared/engine/reservations.py) becomes a hold -------------


def hold_writes(
    batch: Any,
    *,
    account_id: str,
    job_id: str,
    shard: int,
    micros: int,
    ref: str | None = None,
    reservation_id: str | None = None,
) -> None:
    """Turn reservation `reservation_id` (default: `ref`) into the job's hold, in the
    caller's batch.

    `ref` names this hold: the job id, or `<job>:r<n>` for the n-th retry of a job, so
    every run of a job is held and settled exactly once.
    """
    from google.cloud import firestore

    ref = ref or job_id
    batch.delete(
        reservation_ref(reservation_id or ref), option=firestore.Client.write_option(exists=True)
    )
    _write_entry(
        batch,
        account_id=account_id,
        kind=EntryKind.HOLD,
        ref=ref,
        shard=shard,
        balance_delta=0,
        held_delta=micros,
        job_id=job_id,
    )
    batch.set(shard_ref(account_id, shard), {"held_micros": increment(micros)}, merge=True)


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
    _write_entry(
        batch,
        account_id=account_id,
        kind=kind,
        ref=ref,
        shard=shard,
        balance_delta=-capture_micros,
        held_delta=-held_micros,
        job_id=job_id,
    )
    batch.set(
        shard_ref(account_id, shard),
        {
            "balance_micros": increment(-capture_micros),
            "held_micros": increment(-held_micros),
            "available_micros": increment(held_micros - capture_micros),
        },
        merge=True,
    )


def entries(account_id: str) -> list[dict[str, Any]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db().collection(LEDGER).where(filter=FieldFilter("account_id", "==", account_id))
    return [{"id": snap.id, **snap.to_dict()} for snap in query.stream()]
