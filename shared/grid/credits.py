"""A grid worker's credits: its earnings account, and payout requests.

A worker's earnings are `earning:<job>` entries on its earnings account
(`ledger.earnings_account(account)`), never on the prepaid account it may also top up.
The balance shown is that account's ledger balance (earned - paid out). A payout is one
`ledger.debit` of the earnings account's available money: the ledger's reservation makes
two concurrent requests unable to pay the same credits twice, and prepaid money can never
be paid out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from shared.engine import clock, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.grid.ids import new_id
from shared.grid.workers import Worker

PAYOUTS = "grid_payouts"
HISTORY = 100


class Earning(BaseModel):
    """One job's earning, and whether payouts have already covered it."""

    grid_id: int | None
    micros: int
    output_tokens: int | None
    duration_ms: int | None
    paid_out: bool
    created_at: dt.datetime


class Summary(BaseModel):
    balance_micros: int
    total_earned_micros: int
    history: list[Earning]  # newest first, at most HISTORY


class Payout(BaseModel):
    batch_id: int
    amount_micros: int
    status: str


def _entries(account: str, kind: ledger.EntryKind) -> list[dict[str, Any]]:
    rows = [e for e in ledger.entries(account) if e["kind"] == kind]
    return sorted(rows, key=lambda e: e["created_at"])


def summary(worker: Worker) -> Summary:
    account = ledger.earnings_account(worker.account_id)
    earnings = _entries(account, ledger.EntryKind.EARNING)
    paid = -sum(int(e["balance_delta_micros"]) for e in _entries(account, ledger.EntryKind.PAYOUT))
    job_refs = [jobs.document(e["job_id"]) for e in earnings if e.get("job_id")]
    details = {
        s.id: (s.to_dict() or {}).get("site_fields", {})
        for s in (db().get_all(job_refs) if job_refs else [])
        if s.exists
    }
    history: list[Earning] = []
    running = 0
    for e in earnings:
        micros = int(e["balance_delta_micros"])
        running += micros
        sf = details.get(e.get("job_id") or "", {})
        history.append(
            Earning(
                grid_id=int(sf.get("grid_id", 0)) or None,
                micros=micros,
                output_tokens=sf.get("output_tokens"),
                duration_ms=sf.get("duration_ms"),
                paid_out=running <= paid,  # payouts pay the oldest earnings first
                created_at=e["created_at"],
            )
        )
    return Summary(
        balance_micros=ledger.balance(account).balance_micros,
        total_earned_micros=running,
        history=list(reversed(history))[:HISTORY],
    )


def request_payout(worker: Worker) -> Payout:
    """Pay out everything the worker has earned and not yet been paid (422 if nothing)."""
    account = ledger.earnings_account(worker.account_id)
    amount = ledger.balance(account).available_micros
    if amount <= 0:
        raise AppError(ErrorKind.INSUFFICIENT_FUNDS, "insufficient balance")
    batch_id = new_id()
    record = {
        "account_id": worker.account_id,
        "worker_id": worker.id,
        "amount_micros": amount,
        "status": "pending",
        "created_at": clock.now(),
    }

    def with_record(batch: Any) -> None:
        batch.create(db().collection(PAYOUTS).document(str(batch_id)), record)

    try:
        applied = ledger.debit(
            account_id=account,
            kind=ledger.EntryKind.PAYOUT,
            ref=f"grid:{batch_id}",
            micros=amount,
            extra=with_record,
            memo=f"grid worker {worker.id} payout",
        )
    except AppError as exc:
        if exc.kind is ErrorKind.INSUFFICIENT_FUNDS:
            # A concurrent request is paying the same credits out.
            raise AppError(ErrorKind.INSUFFICIENT_FUNDS, "insufficient balance") from exc
        raise
    if not applied:
        raise AppError(ErrorKind.CONFLICT, "payout in progress, retry")
    return Payout(batch_id=batch_id, amount_micros=amount, status="pending")
