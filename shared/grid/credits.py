"""A grid worker's credits: earnings from the ledger, and payout requests.

Earnings are `earning:<hold ref>` ledger entries on the worker's account. A payout debits
everything earned and not yet paid out, exactly once: the debit and the account's
payout state (`grid_payout_state/<account>.paid_micros`) are one batch, preconditioned on
the state the amount was computed from, so two concurrent requests cannot both pay.
"""

from __future__ import annotations

from typing import Any

from shared.engine import clock, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.grid import pricing
from shared.grid.ids import new_id
from shared.grid.workers import Worker

PAYOUT_STATE = "grid_payout_state"
PAYOUTS = "grid_payouts"
CREDIT_VALUE_USD = 0.01
MAX_TRIES = 5


def _earnings(account_id: str) -> list[dict[str, Any]]:
    rows = [e for e in ledger.entries(account_id) if e["kind"] == ledger.EntryKind.EARNING]
    return sorted(rows, key=lambda e: e["created_at"])


def _paid_micros(account_id: str) -> tuple[int, Any]:
    snap = db().collection(PAYOUT_STATE).document(account_id).get()
    return (int(snap.get("paid_micros")) if snap.exists else 0), snap


def summary(worker: Worker) -> dict[str, Any]:
    earnings = _earnings(worker.account_id)
    paid, _ = _paid_micros(worker.account_id)
    total = sum(int(e["balance_delta_micros"]) for e in earnings)
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
                "paid_out": running <= paid,
                "created_at": clock.iso(e["created_at"]),
            }
        )
    return {
        "balance": pricing.credits(total - paid),
        "total_earned": pricing.credits(total),
        "credit_value_usd": CREDIT_VALUE_USD,
        "history": list(reversed(history))[:100],
    }


def request_payout(worker: Worker) -> dict[str, Any]:
    from google.cloud import firestore

    state_ref = db().collection(PAYOUT_STATE).document(worker.account_id)
    for _ in range(MAX_TRIES):
        total = sum(int(e["balance_delta_micros"]) for e in _earnings(worker.account_id))
        paid, snap = _paid_micros(worker.account_id)
        amount = total - paid
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

        def with_state(
            batch: Any,
            total: int = total,
            snap: Any = snap,
            batch_id: int = batch_id,
            record: dict = record,
        ) -> None:
            if snap.exists:
                batch.update(
                    state_ref,
                    {"paid_micros": total},
                    option=firestore.Client.write_option(last_update_time=snap.update_time),
                )
            else:
                batch.create(state_ref, {"paid_micros": total})
            batch.create(db().collection(PAYOUTS).document(str(batch_id)), record)

        try:
            applied = ledger.debit(
                account_id=worker.account_id,
                kind=ledger.EntryKind.PAYOUT,
                ref=str(batch_id),
                micros=amount,
                extra=with_state,
                memo=f"grid worker {worker.id} payout",
            )
        except AppError as exc:
            if exc.kind is ErrorKind.INSUFFICIENT_FUNDS:
                raise AppError(ErrorKind.INSUFFICIENT_FUNDS, "insufficient balance") from exc
            raise
        if applied:
            credits = pricing.credits(amount)
            return {
                "batch_id": batch_id,
                "amount_credits": credits,
                "amount_usd": round(credits * CREDIT_VALUE_USD, 6),
                "status": "pending",
            }
    raise AppError(ErrorKind.CONFLICT, "payout in progress, retry")
