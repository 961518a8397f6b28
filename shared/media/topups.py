"""Top-ups: money entering an account from Stripe, Coinbase Commerce or x402, exactly once.

Invariants:
- Every top-up is a record `topups/<provider>:<external id>` owned by the account that
  opened it (checkout) or paid it (x402). A claim for another account's record is refused
  and changes nothing.
- Crediting is one batch: the ledger entry `topup:<provider>:<external id>[:<part>]`, the
  referrer's commission (shared/media/affiliates/, keyed by the same ref) and the
  record's settlement fields. The entry's create() is the idempotency key, so a claim and
  any number of webhook deliveries racing each other credit once; the losers read back
  the same settlement.
- Money is credited only from what the provider reports paid: a paid Stripe session's
  `amount_total`, each CONFIRMED Coinbase payment (one entry per payment, so an
  underpayment credits what arrived and a later or extra payment adds itself once), a
  settled x402 authorization's amount.
- Refunds and disputes debit through the ledger. A balance never goes negative: what the
  account has already spent is recorded on the top-up as `unrecovered_micros`
  (shared/media/recoveries.py). The referrer's commission is taken back in proportion.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared import clock, coinbase_gateway, ledger
from shared.errors import AppError, ErrorKind
from shared.ledger import EntryKind
from shared.media import affiliates, packages
from shared.media.recoveries import recover
from shared.money import MICROS_PER_CENT
from shared.store import CONFLICTS, db, increment
from shared.stripe_gateway import client as stripe_client

log = logging.getLogger("relay.topups")

TOPUPS = "topups"
EVENTS = "events"  # subcollection: what the providers told us about a top-up
PURPOSE = "media_topup"


class Provider(StrEnum):
    STRIPE = "stripe"
    COINBASE = "coinbase"
    X402 = "x402"


@dataclass(frozen=True)
class Settlement:
    provider: Provider
    external_id: str
    package_code: str
    deposit_cents: int
    balance_micros: int

    def public(self) -> dict[str, Any]:
        return {
            "provider": str(self.provider),
            "sessionId": self.external_id if self.provider is Provider.STRIPE else None,
            "chargeId": self.external_id if self.provider is Provider.COINBASE else None,
            "packageCode": self.package_code,
            "depositUsdCents": self.deposit_cents,
            "currentBalanceUsdMicros": self.balance_micros,
        }


def _ref(provider: Provider, external_id: str) -> Any:
    return db().collection(TOPUPS).document(f"{provider}:{external_id}")


def open_topup(
    *, provider: Provider, external_id: str, account_id: str, package_code: str, cents: int
) -> None:
    _ref(provider, external_id).set(
        {
            "provider": str(provider),
            "external_id": external_id,
            "account_id": account_id,
            "package_code": package_code,
            "price_cents": cents,
            "status": "open",
            "credited_cents": 0,
            "created_at": clock.now(),
        },
        merge=True,
    )


def owned_topup(*, provider: Provider, external_id: str, account_id: str) -> dict[str, Any]:
    snap = _ref(provider, external_id).get()
    if not snap.exists:
        raise AppError(ErrorKind.NOT_FOUND, f"unknown {provider} checkout", {"code": "not_found"})
    data = snap.to_dict()
    if data["account_id"] != account_id:
        raise AppError(
            ErrorKind.FORBIDDEN, "this checkout belongs to another account", {"code": "forbidden"}
        )
    return data


def _credit(
    *,
    provider: Provider,
    external_id: str,
    account_id: str,
    package_code: str,
    cents: int,
    part: str | None = None,
    fields: dict[str, Any] | None = None,
) -> bool:
    """Credit one payment of a top-up. False when it was credited before."""
    entry_ref = f"{provider}:{external_id}" + (f":{part}" if part else "")
    micros = cents * MICROS_PER_CENT
    batch = db().batch()
    ledger.credit_writes(
        batch,
        account_id=account_id,
        kind=EntryKind.TOPUP,
        ref=entry_ref,
        micros=micros,
        memo=f"{provider} top-up {package_code}",
    )
    affiliates.commission_writes(
        batch, referred_account_id=account_id, topup_ref=entry_ref, deposit_micros=micros
    )
    batch.set(
        _ref(provider, external_id),
        {
            "provider": str(provider),
            "external_id": external_id,
            "account_id": account_id,
            "package_code": package_code,
            "status": "settled",
            "credited_cents": increment(cents),
            "settled_at": clock.now(),
            **(fields or {}),
        },
        merge=True,
    )
    try:
        batch.commit()
    except CONFLICTS:
        return False
    log.info("credited %s top-up %s: %d cents", provider, entry_ref, cents)
    return True


def _settlement(provider: Provider, external_id: str) -> Settlement:
    return _settlement_from(provider, external_id, _ref(provider, external_id).get().to_dict())


def _settlement_from(provider: Provider, external_id: str, data: dict[str, Any]) -> Settlement:
    return Settlement(
        provider=provider,
        external_id=external_id,
        package_code=str(data.get("package_code", "")),
        deposit_cents=int(data.get("credited_cents", 0)),
        balance_micros=ledger.balance(data["account_id"]).balance_micros,
    )


def record_event(
    *, provider: Provider, external_id: str, event_id: str, kind: str, data: dict[str, Any]
) -> None:
    """Keep what a provider said about a top-up (idempotent by event id)."""
    with contextlib.suppress(CONFLICTS):
        _ref(provider, external_id).collection(EVENTS).document(event_id).create(
            {"type": kind, "received_at": clock.now(), **data}
        )


# --- Stripe ---------------------------------------------------------------------------


def stripe_checkout(
    *,
    account_id: str,
    email: str,
    package_code: str,
    success_url: str,
    cancel_url: str,
) -> dict[str, Any]:
    package = packages.get(package_code)
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": package.price_cents,
                            "product_data": {"name": f"Killa Tamata credit: {package.name}"},
                        },
                    }
                ],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "customer_email": email,
                "client_reference_id": account_id,
                "metadata": {
                    "purpose": PURPOSE,
                    "account_id": account_id,
                    "package_code": package.code,
                },
            }
        )
    except Exception as exc:  # the SDK's errors share no narrower base with httpx's
        log.warning("stripe checkout failed: %s", type(exc).__name__)
        raise AppError(ErrorKind.UNAVAILABLE, "payment provider unavailable") from exc
    open_topup(
        provider=Provider.STRIPE,
        external_id=session.id,
        account_id=account_id,
        package_code=package.code,
        cents=package.price_cents,
    )
    return {
        "provider": "stripe",
        "sessionId": session.id,
        "checkoutUrl": session.url,
        "packageCode": package.code,
        "amountUsdCents": package.price_cents,
        "expiresAt": clock.iso(dt.datetime.fromtimestamp(session.expires_at, dt.UTC)),
    }


def _settle_stripe_session(session: dict[str, Any]) -> bool:
    metadata = session.get("metadata") or {}
    return _credit(
        provider=Provider.STRIPE,
        external_id=session["id"],
        account_id=metadata["account_id"],
        package_code=metadata["package_code"],
        cents=int(session["amount_total"]),
        fields={"stripe_payment_intent": session.get("payment_intent")},
    )


def claim_stripe(*, account_id: str, session_id: str) -> Settlement:
    topup = owned_topup(provider=Provider.STRIPE, external_id=session_id, account_id=account_id)
    if topup.get("status") == "settled":
        # A Checkout Session is paid once: settled means nothing more can come of it.
        return _settlement_from(Provider.STRIPE, session_id, topup)
    try:
        session = stripe_client().v1.checkout.sessions.retrieve(session_id).to_dict()
    except Exception as exc:
        log.warning("stripe session lookup failed: %s", type(exc).__name__)
        raise AppError(ErrorKind.UNAVAILABLE, "payment provider unavailable") from exc
    metadata = session.get("metadata") or {}
    if metadata.get("account_id") != account_id or metadata.get("purpose") != PURPOSE:
        raise AppError(ErrorKind.FORBIDDEN, "this checkout belongs to another account")
    if session.get("payment_status") != "paid":
        raise AppError(
            ErrorKind.CONFLICT,
            f"checkout is not paid (status {session.get('status')})",
            {"code": "payment_pending"},
        )
    _settle_stripe_session(session)
    return _settlement(Provider.STRIPE, session_id)


def stripe_event(event: dict[str, Any]) -> str:
    """Apply a verified Stripe event that concerns top-ups; anything else is ignored."""
    kind = event["type"]
    obj = event["data"]["object"]
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        metadata = obj.get("metadata") or {}
        if metadata.get("purpose") != PURPOSE or not metadata.get("account_id"):
            return "ignored"
        if metadata.get("package_code") is None or obj.get("amount_total") is None:
            return "ignored"
        if obj.get("payment_status") != "paid":
            return "awaiting payment"
        # The settlement itself (ledger entry + record) is the record of this event.
        return "credited" if _settle_stripe_session(obj) else "already credited"
    if kind == "charge.refunded":
        # Stripe reports the cumulative refunded amount; the new refund is the difference
        # from the previous value (or, without it, from what this top-up has had refunded).
        previous = (event["data"].get("previous_attributes") or {}).get("amount_refunded")
        return _take_back(
            event=event,
            payment_intent=obj.get("payment_intent"),
            kind=EntryKind.REFUND,
            ref=f"stripe:{obj['id']}:refunded:{obj['amount_refunded']}",
            cents=int(obj["amount_refunded"]),
            previous_cents=None if previous is None else int(previous),
        )
    if kind == "charge.dispute.created":
        return _take_back(
            event=event,
            payment_intent=obj.get("payment_intent"),
            kind=EntryKind.CHARGEBACK,
            ref=f"stripe:{obj['id']}",
            cents=int(obj["amount"]),
            previous_cents=0,
        )
    return "ignored"


def _topup_for_payment_intent(payment_intent: str | None) -> Any:
    if not payment_intent:
        return None
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(TOPUPS)
        .where(filter=FieldFilter("stripe_payment_intent", "==", payment_intent))
        .limit(1)
    )
    return next(iter(query.stream()), None)


def _take_back(
    *,
    event: dict[str, Any],
    payment_intent: str | None,
    kind: EntryKind,
    ref: str,
    cents: int,
    previous_cents: int | None,
) -> str:
    snap = _topup_for_payment_intent(payment_intent)
    if snap is None:
        return "ignored"
    data = snap.to_dict()
    if previous_cents is None:
        previous_cents = int(data.get(f"{EntryKind.REFUND}_micros", 0)) // MICROS_PER_CENT
    cents -= previous_cents
    if cents <= 0:
        return "ignored"
    record_event(
        provider=Provider.STRIPE,
        external_id=data["external_id"],
        event_id=event["id"],
        kind=event["type"],
        data={"cents": cents},
    )
    micros = cents * MICROS_PER_CENT
    outcome = recover(
        account_id=data["account_id"], record=snap.reference, kind=kind, ref=ref, micros=micros
    )
    # The referrer's commission on this top-up shrinks in the same proportion.
    affiliates.clawback(
        referred_account_id=data["account_id"],
        topup_ref=f"{Provider.STRIPE}:{data['external_id']}",
        taken_micros=micros,
        kind=kind,
        ref=ref,
    )
    return outcome


# --- Coinbase Commerce ----------------------------------------------------------------


def coinbase_checkout(
    *, account_id: str, package_code: str, redirect_url: str | None, cancel_url: str | None
) -> dict[str, Any]:
    package = packages.get(package_code)
    charge = coinbase_gateway.create_charge(
        name=f"Killa Tamata credit: {package.name}",
        description=package.description,
        amount_cents=package.price_cents,
        metadata={"purpose": PURPOSE, "account_id": account_id, "package_code": package.code},
        redirect_url=redirect_url,
        cancel_url=cancel_url,
    )
    open_topup(
        provider=Provider.COINBASE,
        external_id=charge.id,
        account_id=account_id,
        package_code=package.code,
        cents=package.price_cents,
    )
    return {
        "provider": "coinbase",
        "chargeId": charge.id,
        "chargeCode": charge.code,
        "checkoutUrl": charge.hosted_url,
        "packageCode": package.code,
        "amountUsdCents": package.price_cents,
    }


def _settle_charge(charge: coinbase_gateway.Charge, *, account_id: str, package_code: str) -> int:
    """Credit every confirmed payment of a charge not credited yet; returns how many."""
    credited = 0
    for payment in charge.payments:
        if payment.status != "CONFIRMED" or payment.usd_cents <= 0:
            continue
        if _credit(
            provider=Provider.COINBASE,
            external_id=charge.id,
            account_id=account_id,
            package_code=package_code,
            cents=payment.usd_cents,
            part=payment.id,
            fields={"coinbase_status": charge.status, "coinbase_context": charge.context},
        ):
            credited += 1
    return credited


def claim_coinbase(*, account_id: str, charge_id: str) -> Settlement:
    topup = owned_topup(provider=Provider.COINBASE, external_id=charge_id, account_id=account_id)
    charge = coinbase_gateway.get_charge(charge_id)
    if charge.metadata.get("account_id") != account_id:
        raise AppError(ErrorKind.FORBIDDEN, "this charge belongs to another account")
    if coinbase_gateway.confirmed_cents(charge) <= 0:
        raise AppError(
            ErrorKind.CONFLICT,
            f"charge has no confirmed payment (status {charge.status})",
            {"code": "payment_pending"},
        )
    _settle_charge(charge, account_id=account_id, package_code=topup["package_code"])
    return _settlement(Provider.COINBASE, charge_id)


def coinbase_event(event: dict[str, Any]) -> str:
    """Apply a verified Coinbase Commerce event. Credits confirmed payments only."""
    charge = coinbase_gateway.charge_from(event["data"])
    if charge.metadata.get("purpose") != PURPOSE or not charge.metadata.get("account_id"):
        return "ignored"
    record_event(
        provider=Provider.COINBASE,
        external_id=charge.id,
        event_id=str(event.get("id", "")) or f"{event['type']}:{charge.status}",
        kind=str(event["type"]),
        data={
            "status": charge.status,
            "context": charge.context,
            "confirmed_cents": coinbase_gateway.confirmed_cents(charge),
        },
    )
    if event["type"] in ("charge:created", "charge:pending") and not charge.payments:
        return "recorded"
    credited = _settle_charge(
        charge,
        account_id=charge.metadata["account_id"],
        package_code=charge.metadata.get("package_code", ""),
    )
    return f"credited {credited} payment(s)" if credited else "nothing new to credit"


# --- x402 -----------------------------------------------------------------------------


def x402_credit(*, account_id: str, payment_id: str, cents: int, fields: dict[str, Any]) -> bool:
    return _credit(
        provider=Provider.X402,
        external_id=payment_id,
        account_id=account_id,
        package_code=f"usd_{cents}",
        cents=cents,
        fields=fields,
    )


def x402_record(payment_id: str) -> dict[str, Any] | None:
    snap = _ref(Provider.X402, payment_id).get()
    return snap.to_dict() if snap.exists else None
