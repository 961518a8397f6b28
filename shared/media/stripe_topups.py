"""Stripe top-ups: Checkout Sessions opened, claimed and settled by webhook; refunds and
disputes taken back.

Invariants (on top of shared/media/topups.py's): credit is the paid session's
`amount_total`, once, whether the claim or `checkout.session.completed` comes first. A
claim needs the session to be the caller's (our record and the session's metadata agree)
and paid. `charge.refunded` takes back the newly refunded amount (its cumulative total
minus the previous one), `charge.dispute.created` the disputed amount, each once by its
own ledger ref, never below a zero balance, and the referrer's commission in proportion. A
refund or dispute that arrives before the session's credit credits the session (found by
its payment intent) with the take-back in the same batch: net = paid - taken, once.
`charge.dispute.closed` with status `won` gives back what that dispute took, once. The
settlement carries the paying card's fingerprint (the PaymentIntent's latest Charge) for the
affiliate self-referral check; Stripe unreachable for it means no settlement yet (the
claim answers 503, the webhook is retried), never a settlement without the check.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.ledger import EntryKind
from shared.engine.money import MICROS_PER_CENT
from shared.engine.store import db
from shared.media import affiliates, packages, recoveries, topups
from shared.providers.stripe import client as stripe_client

log = logging.getLogger("relay.topups.stripe")


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
                    "purpose": topups.PURPOSE,
                    "account_id": account_id,
                    "package_code": package.code,
                },
            }
        )
    except Exception as exc:  # the SDK's errors share no narrower base with httpx's
        log.warning("stripe checkout failed: %s", type(exc).__name__)
        raise AppError(ErrorKind.UNAVAILABLE, "payment provider unavailable") from exc
    topups.open_topup(
        provider=topups.Provider.STRIPE,
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


def _card_fingerprint(payment_intent: Any) -> str | None:
    """The fingerprint of the card that paid (the PaymentIntent's latest Charge's
    `payment_method_details.card.fingerprint`); None for a payment without a card."""
    if isinstance(payment_intent, str):
        try:
            payment_intent = (
                stripe_client()
                .v1.payment_intents.retrieve(payment_intent, params={"expand": ["latest_charge"]})
                .to_dict()
            )
        except Exception as exc:  # the SDK's errors share no narrower base with httpx's
            log.warning("stripe payment intent lookup failed: %s", type(exc).__name__)
            raise AppError(ErrorKind.UNAVAILABLE, "payment provider unavailable") from exc
    charge = (payment_intent or {}).get("latest_charge")
    if not isinstance(charge, dict):
        return None
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    return card.get("fingerprint") or None


def _settle_stripe_session(
    session: dict[str, Any], take_back: topups.TakeBack | None = None
) -> bool:
    """Credit a paid session; its PaymentIntent is an id or (expanded) the object."""
    metadata = session.get("metadata") or {}
    payment_intent = session.get("payment_intent")
    intent_id = payment_intent.get("id") if isinstance(payment_intent, dict) else payment_intent
    return topups.credit(
        provider=topups.Provider.STRIPE,
        external_id=session["id"],
        account_id=metadata["account_id"],
        package_code=metadata["package_code"],
        cents=int(session["amount_total"]),
        fields={"stripe_payment_intent": intent_id},
        take_back=take_back,
        payment_fingerprint=_card_fingerprint(payment_intent),
    )


def claim_stripe(*, account_id: str, session_id: str) -> topups.Settlement:
    topup = topups.owned_topup(
        provider=topups.Provider.STRIPE, external_id=session_id, account_id=account_id
    )
    if topup.get("status") == "settled":
        # A Checkout Session is paid once: settled means nothing more can come of it.
        return topups.settlement_from(topups.Provider.STRIPE, session_id, topup)
    try:
        session = (
            stripe_client()
            .v1.checkout.sessions.retrieve(
                session_id, params={"expand": ["payment_intent.latest_charge"]}
            )
            .to_dict()
        )
    except Exception as exc:
        log.warning("stripe session lookup failed: %s", type(exc).__name__)
        raise AppError(ErrorKind.UNAVAILABLE, "payment provider unavailable") from exc
    metadata = session.get("metadata") or {}
    if metadata.get("account_id") != account_id or metadata.get("purpose") != topups.PURPOSE:
        raise AppError(ErrorKind.FORBIDDEN, "this checkout belongs to another account")
    if session.get("payment_status") != "paid":
        raise AppError(
            ErrorKind.CONFLICT,
            f"checkout is not paid (status {session.get('status')})",
            {"code": "payment_pending"},
        )
    _settle_stripe_session(session)
    return topups.settlement(topups.Provider.STRIPE, session_id, account_id)


def stripe_event(event: dict[str, Any]) -> str:
    """Apply a verified Stripe event that concerns top-ups; anything else is ignored."""
    kind = event["type"]
    obj = event["data"]["object"]
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        metadata = obj.get("metadata") or {}
        if metadata.get("purpose") != topups.PURPOSE or not metadata.get("account_id"):
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
    if kind == "charge.dispute.created" or (
        kind == "charge.dispute.closed" and obj.get("status") == "won"
    ):
        # A won dispute first makes sure its chargeback was applied (it may come first or
        # alone; applying is idempotent), then gives back exactly what the chargeback took.
        outcome = _take_back(
            event=event,
            payment_intent=obj.get("payment_intent"),
            kind=EntryKind.CHARGEBACK,
            ref=f"stripe:{obj['id']}",
            cents=int(obj["amount"]),
            previous_cents=0,
        )
        if kind == "charge.dispute.closed" and outcome != "ignored":
            return _reinstate(payment_intent=obj.get("payment_intent"), ref=f"stripe:{obj['id']}")
        return outcome
    return "ignored"


def _reinstate(*, payment_intent: str | None, ref: str) -> str:
    snap = _topup_for_payment_intent(payment_intent)
    if snap is None:
        return "ignored"
    data = snap.to_dict()
    outcome = recoveries.reinstate(
        account_id=data["account_id"], record=snap.reference, kind=EntryKind.CHARGEBACK, ref=ref
    )
    affiliates.reinstate_commission(
        referred_account_id=data["account_id"],
        topup_ref=f"{topups.Provider.STRIPE}:{data['external_id']}",
        kind=EntryKind.CHARGEBACK,
        ref=ref,
    )
    return outcome


def _session_for_payment_intent(payment_intent: str | None) -> dict[str, Any] | None:
    """Our paid top-up session behind a payment intent, asked of Stripe (for a refund or
    dispute that arrives before the session's completion was applied)."""
    if not payment_intent:
        return None
    try:
        found = stripe_client().v1.checkout.sessions.list(
            params={"payment_intent": payment_intent, "limit": 1}
        )
    except Exception as exc:  # the SDK's errors share no narrower base with httpx's
        log.warning("stripe session lookup failed: %s", type(exc).__name__)
        raise AppError(ErrorKind.UNAVAILABLE, "payment provider unavailable") from exc
    for session in (s.to_dict() for s in found.data):
        metadata = session.get("metadata") or {}
        if (
            metadata.get("purpose") == topups.PURPOSE
            and metadata.get("account_id")
            and metadata.get("package_code") is not None
            and session.get("payment_status") == "paid"
        ):
            return session
    return None


def _topup_for_payment_intent(payment_intent: str | None) -> Any:
    if not payment_intent:
        return None
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(topups.TOPUPS)
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
        # Before the top-up's credit: credit it now with this take-back in the same batch.
        session = _session_for_payment_intent(payment_intent)
        if session is None:
            return "ignored"
        taken = cents - (previous_cents or 0)
        if taken > 0:
            _settle_stripe_session(
                session, topups.TakeBack(kind=kind, ref=ref, micros=taken * MICROS_PER_CENT)
            )
        snap = _topup_for_payment_intent(payment_intent)
        if snap is None:
            raise AppError(ErrorKind.UNAVAILABLE, "top-up is being credited; retry")
        previous_cents = previous_cents or 0  # go on: the commission's share comes back below
    data = snap.to_dict()
    if previous_cents is None:
        previous_cents = int(data.get(f"{EntryKind.REFUND}_micros", 0)) // MICROS_PER_CENT
    cents -= previous_cents
    if cents <= 0:
        return "ignored"
    topups.record_event(
        provider=topups.Provider.STRIPE,
        external_id=data["external_id"],
        event_id=event["id"],
        kind=event["type"],
        data={"cents": cents},
    )
    micros = cents * MICROS_PER_CENT
    outcome = recoveries.recover(
        account_id=data["account_id"], record=snap.reference, kind=kind, ref=ref, micros=micros
    )
    # The referrer's commission on this top-up shrinks in the same proportion.
    affiliates.clawback(
        referred_account_id=data["account_id"],
        topup_ref=f"{topups.Provider.STRIPE}:{data['external_id']}",
        taken_micros=micros,
        kind=kind,
        ref=ref,
    )
    return outcome
