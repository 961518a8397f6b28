"""Taking money back (a refund, a lost dispute) without ever making a balance negative.

Invariants: a take-back is applied once, keyed by its ledger entry id (`<kind>:<ref>`): the
debit's ledger entry and a marker `<record>/recoveries/<entry id>` are written in one
batch, so a replayed event finds the marker (or the entry) and changes nothing. The debit
is at most what the account has available; the rest is recorded on the record it concerns
(`unrecovered_micros`, for collections) in that same batch, or alone, by the marker's
create(), when nothing can be taken. A reinstatement (a dispute won) undoes one take-back
once: its marker's create() and the re-credit `reinstatement:<ref>` of exactly what was
debited share a batch, and the record's totals move back by what the take-back recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.engine import clock, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.ledger import EntryKind
from shared.engine.store import CONFLICTS, LEDGER, commit, db, increment

log = logging.getLogger("relay.recoveries")

RECOVERIES = "recoveries"  # subcollection of the record a take-back concerns


def recover(
    *,
    account_id: str,
    record: Any,
    kind: EntryKind,
    ref: str,
    micros: int,
    extra: Callable[[Any, int], None] | None = None,
) -> str:
    """Debit `micros` from `account_id` as far as its balance allows, recording the rest on
    the document `record`; `extra(batch, taken)` adds writes that land with it."""
    eid = ledger.entry_id(kind, ref)
    marker = record.collection(RECOVERIES).document(eid)
    if db().collection(LEDGER).document(eid).get().exists or marker.get().exists:
        return "already applied"
    for _ in range(3):
        available = ledger.balance(account_id).available_micros
        take = min(micros, available)

        def note(batch: Any, take: int = take) -> None:
            note_writes(
                batch,
                account_id=account_id,
                record=record,
                kind=kind,
                ref=ref,
                micros=micros,
                taken=take,
            )
            if extra is not None:
                extra(batch, take)

        if take == 0:
            batch = db().batch()
            note(batch)
            try:
                commit(batch, label="ledger.recovery")
            except CONFLICTS:
                return "already applied"
            log.warning("money taken back (%s) with nothing left to debit", eid)
            return "recorded unrecovered"
        try:
            applied = ledger.debit(
                account_id=account_id, kind=kind, ref=ref, micros=take, memo=str(kind), extra=note
            )
        except AppError as exc:
            if exc.kind is ErrorKind.INSUFFICIENT_FUNDS:
                continue  # spent meanwhile: read again and take what is left
            raise
        return "debited" if applied else "already applied"
    raise AppError(ErrorKind.UNAVAILABLE, "balance kept changing; retry")


def note_writes(
    batch: Any, *, account_id: str, record: Any, kind: EntryKind, ref: str, micros: int, taken: int
) -> None:
    """Record take-back `<kind>:<ref>` of `micros` on `record`, `taken` of it debited (the
    debit itself is the caller's): its marker (a create(), so once) and the record's totals."""
    batch.create(
        record.collection(RECOVERIES).document(ledger.entry_id(kind, ref)),
        {
            "account_id": account_id,
            "kind": str(kind),
            "micros": micros,
            "recovered_micros": taken,
            "created_at": clock.now(),
        },
    )
    batch.set(
        record,
        {
            f"{kind}_micros": increment(micros),  # refund_micros / chargeback_micros
            "recovered_micros": increment(taken),
            "unrecovered_micros": increment(micros - taken),
        },
        merge=True,
    )


def reinstate(
    *,
    account_id: str,
    record: Any,
    kind: EntryKind,
    ref: str,
    extra: Callable[[Any, int], None] | None = None,
) -> str:
    """Undo take-back `<kind>:<ref>` (a dispute won after its chargeback), once: credit back
    what it debited (entry `reinstatement:<ref>`) and clear what it left unrecovered, in one
    batch with a marker; `extra(batch, given_back)` adds writes that land with it."""
    marker = record.collection(RECOVERIES).document(ledger.entry_id(kind, ref)).get()
    if not marker.exists:
        return "nothing to reinstate"
    data = marker.to_dict() or {}
    micros, taken = int(data["micros"]), int(data["recovered_micros"])
    batch = db().batch()
    batch.create(
        record.collection(RECOVERIES).document(ledger.entry_id(EntryKind.REINSTATEMENT, ref)),
        {
            "account_id": account_id,
            "micros": micros,
            "given_back_micros": taken,
            "created_at": clock.now(),
        },
    )
    batch.set(
        record,
        {
            f"{kind}_micros": increment(-micros),
            "recovered_micros": increment(-taken),
            "unrecovered_micros": increment(taken - micros),
        },
        merge=True,
    )
    if taken:
        ledger.credit_writes(
            batch,
            account_id=account_id,
            kind=EntryKind.REINSTATEMENT,
            ref=ref,
            micros=taken,
            memo=f"{kind} reversed",
        )
    if extra is not None:
        extra(batch, taken)
    try:
        commit(batch, label="ledger.reinstate")
    except CONFLICTS:
        return "already applied"
    return "reinstated"
