"""Taking money back (a refund, a lost dispute) without ever making a balance negative.

Invariants: a take-back is applied once, keyed by its ledger entry id (`<kind>:<ref>`): the
debit's ledger entry and a marker `<record>/recoveries/<entry id>` are written in one
batch, so a replayed event finds the marker (or the entry) and changes nothing. The debit
is at most what the account has available; the rest is recorded on the record it concerns
(`unrecovered_micros`, for collections) in that same batch, or alone, by the marker's
create(), when nothing can be taken.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.engine import clock, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.ledger import EntryKind
from shared.engine.store import CONFLICTS, LEDGER, db, increment

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
            batch.create(
                marker,
                {
                    "account_id": account_id,
                    "kind": str(kind),
                    "micros": micros,
                    "recovered_micros": take,
                    "created_at": clock.now(),
                },
            )
            batch.set(
                record,
                {
                    f"{kind}_micros": increment(micros),  # refund_micros / chargeback_micros
                    "recovered_micros": increment(take),
                    "unrecovered_micros": increment(micros - take),
                },
                merge=True,
            )
            if extra is not None:
                extra(batch, take)

        if take == 0:
            batch = db().batch()
            note(batch)
            try:
                batch.commit()
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
