"""A grid worker's credits: its earnings account, and payout requests.

A worker's earnings are `earning:<job>` entries on its earnings account
(`ledger.earnings_account(account)`), never on the prepaid account it may also top up.
The balance shown is that account's ledger balance (earned - paid out). A payout is one
`ledger.debit` of the earnings account's available money: the ledger's reservation makes
two concurrent requests unable to pay the same credits twice, and prepaid money can never
be paid out.
"""

from __future__ import annotations

from typing import Any

from shared.engine import clock, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.grid import pricing
from shared.grid.ids import new_id
from shared.grid.workers import Worker

PAYOUTS = "grid_payouts"
CREDIT_VALUE_USD = 0.01
HISTORY = 100


def _entries(account: str, kind: ledger.EntryKind) -> list[dict[str, Any]]:
    rows = [e for e in ledger.entries(account) if e["kind"] == kind]
    return sorted(rows, key=lambda e: e["created_at"])


def summary(worker: Worker) -> dict[str, Any]:
    account = ledger.earnings_account(worker.account_id)
    earnings = _entries(account, ledger.EntryKind.EARNING)
    paid = -sum(int(e["balance_delta_micros"]) for e in _entries(account, ledger.EntryKind.PAYOUT))
    job_refs = [jobs.document(e["job_id"]) for e in earnings if e.get("job_id")]
    details = {
        s.id: (s.to_dict() or {}).get("site_fields", {})
        for s in (db().get_all(job_refs) if job_refs else [])
        if s.exists
    }
    history, running = [], 0
    for e in earnings:
        micros = int(e["balance_delta_micros"])
        running += micros
        sf = details.get(e.get("job_id") or "", {})
        history.append(
            {
                "id": int(sf.get("grid_id", 0)) or None,
                "credits_earned": pricing.credits(micros),
                "output_tokens": sf.get("output_tokens"),
                "duration_ms": sf.get("duration_ms"),
                "paid_out": running <= paid,  # payouts pay the oldest earnings first
                "created_at": clock.iso(e["created_at"]),
            }
        )
    return {
        "balance": pricing.credits(ledger.balance(account).balance_micros),
        "total_earned": pricing.credits(running),
        "credit_value_usd": CREDIT_VALUE_USD,
        "history": list(reversed(history))[:HISTORY],
    }


def request_payout(worker: Worker) -> dict[str, Any]:
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
    credits = pricing.credits(amount)
    return {
        "batch_id": batch_id,
        "amount_credits": credits,
        "amount_usd": round(credits * CREDIT_VALUE_USD, 6),
        "status": "pending",
    }
