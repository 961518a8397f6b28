"""What Stripe says about a payout's transfer, from its events or from the sweep.

Invariants: a payout's state follows its transfer as Stripe reports it, through the
preconditioned transitions of shared/market/payouts.py, so any number of deliveries of any
event, in any order, and any number of sweeps, leave one outcome: a transfer that exists and
is not fully reversed completes the payout (from pending or processing only); a fully reversed
one fails it and returns its money to earnings once (from any state but failed). Events are
trusted only once verified (shared/providers/stripe.py) and only for transfers whose metadata
names a payout of ours with the same amount and destination.

The sweep (registered as "market_payouts") retries payouts left pending by a network error,
after looking for a transfer already made for them (its transfer group is the payout id, so a
retry after Stripe's idempotency window still cannot pay twice), and asks Stripe about
payouts processing for longer than an event should take.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from shared.engine import clock, sweeps
from shared.engine.store import db
from shared.market import payouts, records
from shared.market.records import PayoutStatus
from shared.providers.stripe import client as stripe_client

log = logging.getLogger("relay.market.payouts")

PENDING_RETRY_AFTER = dt.timedelta(minutes=2)  # a younger pending payout may be mid-request
PROCESSING_CHECK_AFTER = dt.timedelta(hours=1)
SWEEP_BATCH = 50


def apply_transfer(transfer: dict[str, Any]) -> str:
    """Bring the transfer's payout in line with the transfer; returns what happened."""
    metadata = transfer.get("metadata") or {}
    if metadata.get("purpose") != payouts.PURPOSE or not metadata.get("payout_id"):
        return "ignored"
    payout = payouts.current(str(metadata["payout_id"]))
    if payout is None:
        return "ignored"
    if (
        int(transfer.get("amount", -1)) != payout.amount_credits
        or transfer.get("destination") != payout.stripe_account_id
    ):
        log.warning("transfer %s does not match payout %s", transfer.get("id"), payout.id)
        return "ignored"
    if transfer.get("reversed"):
        moved = payouts.fail(payout.id, reason="transfer reversed", transfer_id=transfer["id"])
        return "payout failed" if moved else "already failed"
    moved = payouts.transition(
        payout.id,
        allowed_from=(PayoutStatus.PENDING, PayoutStatus.PROCESSING),
        to=PayoutStatus.COMPLETED,
        updates={"stripe_transfer_id": transfer["id"], "processed_at": clock.now()},
    )
    return "payout completed" if moved else "already settled"


def transfer_event(event: dict[str, Any]) -> str:
    """A verified Stripe event: transfer.created / transfer.reversed move market payouts."""
    if event.get("type") not in ("transfer.created", "transfer.reversed", "transfer.updated"):
        return "ignored"
    return apply_transfer(event["data"]["object"])


def _stalled(status: PayoutStatus, older_than: dt.datetime) -> list[records.PayoutRecord]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(records.PAYOUTS)
        .where(filter=FieldFilter("status", "==", str(status)))
        .limit(SWEEP_BATCH * 4)
    )
    found = [records.PayoutRecord(id=s.id, **s.to_dict()) for s in query.stream()]
    return [p for p in found if p.requested_at < older_than][:SWEEP_BATCH]


def _existing_transfer(payout: records.PayoutRecord) -> dict[str, Any] | None:
    listed = stripe_client().v1.transfers.list(
        params={"transfer_group": payout.id, "destination": payout.stripe_account_id, "limit": 3}
    )
    for transfer in listed.data:
        found = transfer.to_dict()
        if (found.get("metadata") or {}).get("payout_id") == payout.id:
            return dict(found)
    return None


def sweep(now: dt.datetime) -> dict[str, int]:
    counts = {"retried": 0, "checked": 0, "errors": 0}
    for payout in _stalled(PayoutStatus.PENDING, now - PENDING_RETRY_AFTER):
        try:
            made = _existing_transfer(payout)
            if made is not None:
                apply_transfer(made)
            else:
                payouts.send_transfer(payout)
            counts["retried"] += 1
        except Exception:  # isolation: one payout's trouble never stops the rest
            log.exception("sweep: payout %s retry failed", payout.id)
            counts["errors"] += 1
    for payout in _stalled(PayoutStatus.PROCESSING, now - PROCESSING_CHECK_AFTER):
        try:
            if payout.stripe_transfer_id:
                got = stripe_client().v1.transfers.retrieve(payout.stripe_transfer_id)
                apply_transfer(got.to_dict())
            counts["checked"] += 1
        except Exception:  # isolation: one payout's trouble never stops the rest
            log.exception("sweep: payout %s check failed", payout.id)
            counts["errors"] += 1
    return counts


sweeps.register("market_payouts", sweep)
