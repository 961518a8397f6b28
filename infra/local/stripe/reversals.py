"""Transfer Reversals of the local Stripe server (``POST /v1/transfers/<id>/reversals``).

A reversal takes back all (no ``amount``) or part of what a transfer has not yet had
reversed; more than that is a 400 and changes nothing. Each reversal updates the transfer's
``amount_reversed``, its ``reversals`` list and ``reversed`` (true once fully reversed), and
emits ``transfer.reversed`` with the transfer (partial reversals included, as Stripe does).
Balances are not tracked, as for transfers (connect.py).
"""

from __future__ import annotations

from typing import Any

from infra.local.stripe.params import Bool, Int, Metadata, Str, invalid, parse
from infra.local.stripe.store import Context, Store, new_id, now

REVERSAL_FIELDS = {
    "amount": Int(minimum=1),
    "description": Str(),
    "metadata": Metadata(),
    "refund_application_fee": Bool(),
}


def create_reversal(
    store: Store, ctx: Context, raw: dict[str, Any], transfer_id: str
) -> dict[str, Any]:
    p = parse(raw, REVERSAL_FIELDS)
    transfer = store.get("transfer", transfer_id, ctx)
    remaining = transfer["amount"] - transfer["amount_reversed"]
    amount = p.get("amount", remaining)
    if remaining <= 0:
        raise invalid("", f"Transfer {transfer_id} has already been fully reversed.")
    if amount > remaining:
        raise invalid(
            "amount",
            f"You have attempted to reverse more than the remaining {remaining} of the transfer.",
        )
    created = now()
    txn_id = new_id("txn_")
    reversal = {
        "id": new_id("trr_"),
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": txn_id,
        "created": created,
        "currency": transfer["currency"],
        "destination_payment_refund": new_id("pyr_"),
        "metadata": p.get("metadata", {}),
        "source_refund": None,
        "transfer": transfer_id,
    }
    store.put(
        {
            "id": txn_id,
            "object": "balance_transaction",
            "amount": amount,
            "available_on": created,
            "created": created,
            "currency": transfer["currency"],
            "description": p.get("description"),
            "fee": 0,
            "fee_details": [],
            "net": amount,
            "reporting_category": "transfer_reversal",
            "source": reversal["id"],
            "status": "available",
            "type": "transfer_refund",
        },
        None,
    )
    store.put(reversal, ctx.account)
    previous = {"amount_reversed": transfer["amount_reversed"], "reversed": transfer["reversed"]}
    listed = transfer["reversals"]
    listed["data"] = [reversal, *listed["data"]]
    listed["total_count"] = len(listed["data"])
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    store.emit(
        "transfer.reversed", transfer, Context(None, ctx.request_id, ctx.idempotency_key), previous
    )
    return reversal
