"""Buying credit with x402: 402 until a payment comes, then verify + settle, then credit.

Invariants:
- A payment (identified before settling by network + payer + authorization nonce) is
  claimed by creating `topups/x402:<payment id>` in state `settling`; only the request
  whose create() wins talks to the facilitator, so concurrent replays cannot settle or
  credit twice. The others wait for the outcome and answer 200 with the same
  PAYMENT-RESPONSE.
- Credit is written only after the facilitator reports the transfer settled, for the
  amount it settled, which must equal the price asked.
- Once the facilitator reports the transfer settled, the record says `paid` before the
  credit is written, so a failure in between is finished by the next replay of the header.
- A payment that was rejected stays rejected (its header is answered 402 again). When the
  facilitator is lost mid-way the claim stays `unknown`: the same header settles again if
  nothing moved; if the authorization turns out used, the record is kept for
  reconciliation against the chain and the caller gets 409, never a second credit.
- A payment already used by one account is never credited to another.
- The record keeps what identifies the payment on chain (network, payer, nonce; the
  transaction once known), so `relay x402 reconcile` (`reconcile()`) can finish a settled but
  uncredited purchase (once) and list the unknown ones for an operator.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.money import MICROS_PER_CENT
from shared.engine.store import CONFLICTS, db
from shared.media import topups
from shared.media.topups import Provider
from shared.providers import x402 as x402_gateway

WAIT_FOR_PEER_S = 15.0
SETTLING, PAID, REJECTED, MISMATCHED, UNKNOWN = (
    "settling",
    "paid",  # the facilitator settled; the credit is being written
    "rejected",
    "mismatched",
    "unknown",  # lost the facilitator mid-way: it may or may not have settled
)
STALE_SETTLING = dt.timedelta(minutes=2)  # a claim held this long was left by a dead request


@dataclass(frozen=True)
class Outcome:
    first: bool = False
    body: dict[str, Any] | None = None
    response_header: str | None = None
    required_header: str | None = None
    message: str = ""


def _description(usd_cents: int) -> str:
    return f"Killa Tamata prepaid credit: ${usd_cents // 100}.{usd_cents % 100:02d}"


def _required(usd_cents: int, resource_url: str, message: str, error: str | None) -> Outcome:
    header = x402_gateway.payment_required_header(
        usd_cents=usd_cents,
        resource_url=resource_url,
        description=_description(usd_cents),
        error=error,
    )
    return Outcome(required_header=header, message=message)


def _body(record: dict[str, Any], account_id: str) -> dict[str, Any]:
    from shared.engine import ledger

    cents = int(record.get("credited_cents", 0))
    return {
        "provider": "x402",
        "paymentId": record["external_id"],
        "payer": record.get("payer"),
        "transaction": record.get("transaction"),
        "network": record.get("network"),
        "depositUsdCents": cents,
        "creditedUsdMicros": cents * MICROS_PER_CENT,
        "currentBalanceUsdMicros": ledger.balance(account_id).available_micros,
    }


def purchase(
    *, account_id: str, usd_cents: int, headers: Mapping[str, str], resource_url: str
) -> Outcome:
    header = x402_gateway.payment_header(headers)
    if header is None:
        return _required(usd_cents, resource_url, "payment required", None)
    payment_id = x402_gateway.payment_id(header)
    ref = db().collection(topups.TOPUPS).document(f"{Provider.X402}:{payment_id}")
    try:
        ref.create(
            {
                "provider": str(Provider.X402),
                "external_id": payment_id,
                "account_id": account_id,
                "package_code": f"usd_{usd_cents}",
                "price_cents": usd_cents,
                "status": SETTLING,
                "credited_cents": 0,
                "created_at": clock.now(),
                # Known before settling, so a settlement left pending can be found on chain.
                **x402_gateway.payment_reference(header),
            }
        )
    except CONFLICTS:
        return _replay(ref, account_id, header, usd_cents, resource_url)
    return _settle(ref, account_id, header, usd_cents, resource_url)


def _settle(ref: Any, account_id: str, header: str, usd_cents: int, resource_url: str) -> Outcome:
    """Settle a payment this request holds the claim on, then credit it."""
    try:
        settled = x402_gateway.verify_and_settle(
            header_value=header,
            usd_cents=usd_cents,
            resource_url=resource_url,
            description=_description(usd_cents),
        )
    except x402_gateway.PaymentRejected as exc:
        ref.update({"status": REJECTED, "reason": str(exc.reason)[:200]})
        return Outcome(
            required_header=exc.required_header, message=f"payment rejected: {exc.reason}"
        )
    except Exception as exc:
        # The facilitator may or may not have settled: keep the claim (a retry of the same
        # header settles again if nothing moved; see _replay) and the transaction, if known.
        known = exc.details.get("transaction") if isinstance(exc, AppError) else None
        ref.update(
            {"status": UNKNOWN, "reason": str(exc)[:200]}
            | ({"transaction": known} if known else {})
        )
        raise
    if settled.amount_atomic != usd_cents * x402_gateway.ATOMIC_PER_CENT:
        # The facilitator settled something other than the price: record it, credit nothing.
        ref.update({"status": MISMATCHED, "amount_atomic": settled.amount_atomic})
        raise AppError(ErrorKind.INVALID, "settled amount differs from the price")
    # Money has moved: say so before crediting, so a failure from here on is finished by
    # a replay (crediting is idempotent) instead of being lost.
    ref.update(
        {
            "status": PAID,
            "payer": settled.payer,
            "network": settled.network,
            "transaction": settled.transaction,
            "response_header": settled.response_header,
        }
    )
    return _credit(ref, account_id, usd_cents, first=True)


def _credit(ref: Any, account_id: str, usd_cents: int, *, first: bool) -> Outcome:
    record = ref.get().to_dict()
    topups.x402_credit(
        account_id=account_id,
        payment_id=record["external_id"],
        cents=usd_cents,
        fields={k: record[k] for k in ("payer", "network", "transaction", "response_header")},
    )
    record = ref.get().to_dict()
    return Outcome(
        first=first, body=_body(record, account_id), response_header=record["response_header"]
    )


def _replay(ref: Any, account_id: str, header: str, usd_cents: int, resource_url: str) -> Outcome:
    deadline = time.monotonic() + WAIT_FOR_PEER_S
    while True:
        snap = ref.get()
        record = snap.to_dict()
        if record["account_id"] != account_id:
            raise AppError(
                ErrorKind.CONFLICT,
                "this payment was already used by another account",
                {"code": "payment_already_used"},
            )
        status = record["status"]
        if status == "settled":
            return Outcome(
                body=_body(record, account_id), response_header=record.get("response_header")
            )
        if status == PAID:  # settled, but the credit did not land: finish it (idempotent)
            return _credit(ref, account_id, int(record["price_cents"]), first=False)
        if status in (REJECTED, MISMATCHED):
            return _required(usd_cents, resource_url, "payment rejected", record.get("reason"))
        stale = status == SETTLING and record["created_at"] < clock.now() - STALE_SETTLING
        if status == UNKNOWN or stale:
            # An earlier attempt lost the facilitator (or died) mid-way. Take the claim back
            # (one retry at a time) and settle again: if nothing moved this settles; if the
            # transfer did happen the facilitator says the authorization is used, and the
            # record stays for reconciliation against the chain.
            try:
                ref.update(
                    {"status": SETTLING},
                    option=_write_option(last_update_time=snap.update_time),
                )
            except CONFLICTS:
                continue
            outcome = _settle(ref, account_id, header, usd_cents, resource_url)
            if outcome.required_header is not None:
                ref.update({"status": UNKNOWN, "needs_reconciliation": True})
                raise AppError(
                    ErrorKind.CONFLICT,
                    "this payment's settlement is being reconciled; contact support",
                    {"code": "settlement_unknown"},
                )
            return outcome
        if time.monotonic() > deadline:
            raise AppError(ErrorKind.UNAVAILABLE, "payment is still settling; retry shortly")
        time.sleep(0.1)


def reconcile() -> dict[str, Any]:
    """Operator: finish x402 purchases left mid-way. A settled purchase whose credit did not
    land (`paid`) is credited (exactly once: the credit is idempotent); one whose settlement
    is unknown, or whose claim was left by a dead request, is listed for an operator with
    what identifies it on chain (network, payer, nonce, transaction when known)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    credited, needs_operator = 0, []
    query = (
        db()
        .collection(topups.TOPUPS)
        .where(filter=FieldFilter("status", "in", [PAID, UNKNOWN, SETTLING]))
    )
    for snap in query.stream():
        record = snap.to_dict()
        if record.get("provider") != str(Provider.X402):
            continue
        if record["status"] == PAID:
            _credit(snap.reference, record["account_id"], int(record["price_cents"]), first=False)
            credited += 1
        elif record["status"] == UNKNOWN or record["created_at"] < clock.now() - STALE_SETTLING:
            needs_operator.append(
                {
                    "paymentId": record["external_id"],
                    "accountId": record["account_id"],
                    "status": record["status"],
                    "usdCents": int(record["price_cents"]),
                    **{k: record.get(k) for k in ("network", "payer", "nonce", "transaction")},
                }
            )
    return {"credited": credited, "needs_operator": needs_operator}


def _write_option(**kwargs: Any) -> Any:
    from google.cloud import firestore

    return firestore.Client.write_option(**kwargs)
