"""A grid worker's credits: its earnings account, and payout requests.

A worker's earnings are `earning:<job>` entries on its earnings account
(`ledger.earnings_account(account)`), never on the prepaid account it may also top up.
The balance shown is that account's ledger balance (earned - paid out). A payout is one
`ledger.debit` of the earnings account's available money less the grid earnings still in
their settlement window (`grid_settlement_window_s`): those cannot be paid out, so an
earning found fraudulent within the window is taken back (`reverse_earning`) before it
leaves. Payouts of one account are numbered (`grid:<account>:payout<n>`, n = the account's
grid payouts so far), so two concurrent requests are the same ledger entry and only one
pays: none can pay out money the other left settling. Prepaid money is never paid out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from shared import earnings as earnings_rule
from shared.engine import clock, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.store import LEDGER, db
from shared.grid.ids import job_doc_id, new_id
from shared.grid.workers import Worker

PAYOUTS = "grid_payouts"
HISTORY = 100
PAYOUT_REF_PREFIX = "grid:"


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
    payable_micros: int  # what a payout request would take now (past the settlement window)
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
    balance = ledger.balance(account)
    return Summary(
        balance_micros=balance.balance_micros,
        payable_micros=max(0, balance.available_micros - settling_micros(account, now=clock.now())),
        total_earned_micros=running,
        history=list(reversed(history))[:HISTORY],
    )


def _is_grid_job(job_id: str | None) -> bool:
    return bool(job_id) and str(job_id).startswith(job_doc_id(0)[0])


def settling_micros(account: str, *, now: dt.datetime) -> int:
    """Grid earnings on this earnings account still inside their settlement window."""
    since = now - dt.timedelta(seconds=get_settings().grid_settlement_window_s)
    return sum(
        int(e["balance_delta_micros"])
        for e in _entries(account, ledger.EntryKind.EARNING)
        if _is_grid_job(e.get("job_id")) and e["created_at"] > since
    )


def request_payout(worker: Worker) -> Payout:
    """Pay out everything the worker has earned, past its settlement window, and not yet
    been paid (422 if nothing)."""
    account = ledger.earnings_account(worker.account_id)
    sequence = sum(
        1
        for e in ledger.entries(account)
        if e["kind"] == ledger.EntryKind.PAYOUT and str(e["ref"]).startswith(PAYOUT_REF_PREFIX)
    )
    # Past the settlement window, and not money another kind of earning holds back
    # (affiliate commissions in their refund window share this account).
    amount = earnings_rule.payable_micros(worker.account_id)
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
            ref=f"{PAYOUT_REF_PREFIX}{worker.account_id}:payout{sequence}",
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


def reverse_earning(*, grid_id: int, reason: str) -> bool:
    """Take back a job's earning found fraudulent (an operator's call, while the earning is
    still on the earnings account, i.e. within its settlement window): the worker's account
    is debited and the platform's expense undone, each idempotent by the job, so a retry
    after a crash finishes what the first attempt began. False if there was no earning."""
    job_id = job_doc_id(grid_id)
    earning = (
        db().collection(LEDGER).document(ledger.entry_id(ledger.EntryKind.EARNING, job_id)).get()
    )
    if not earning.exists:
        return False
    micros = int(earning.get("balance_delta_micros"))
    ledger.debit(
        account_id=earning.get("account_id"),
        kind=ledger.EntryKind.CHARGEBACK,
        ref=f"earning:{job_id}",
        micros=micros,
        memo=f"grid earning reversed: {reason}"[:500],
    )
    ledger.credit(
        account_id=ledger.PLATFORM_ACCOUNT,
        kind=ledger.EntryKind.REFUND,
        ref=f"expense:{job_id}",
        micros=micros,
        memo=f"grid earning reversed: {reason}"[:500],
    )
    return True
