"""Payments resources of the local Stripe server: Checkout Sessions, PaymentIntents, Charges,
Refunds, Disputes, Customers and Balance Transactions.

Every function runs with the store's lock held and either changes nothing and raises a
:class:`StripeError`, or makes all of its changes and emits its events.

The payment flow is Stripe's hosted Checkout in ``mode=payment`` with ``price_data`` line items: a
session is ``open``/``unpaid`` until the customer pays (the local page or the local ``complete``
helper), which creates a succeeded PaymentIntent and its Charge and emits
``payment_intent.created``, ``charge.succeeded``, ``payment_intent.succeeded`` and
``checkout.session.completed``, in that order. The Charge's ``payment_method_details.card`` (with
its ``fingerprint``) comes from the card number paid with (cards.py). An open session past
``expires_at`` (or expired through the API) becomes ``expired`` and emits
``checkout.session.expired``.
"""

from __future__ import annotations

from typing import Any

from infra.local.stripe.cards import card_details
from infra.local.stripe.params import (
    LIST_FIELDS,
    Anything,
    Arr,
    Bool,
    Currency,
    Email,
    Int,
    Metadata,
    Obj,
    Str,
    StripeError,
    Unsupported,
    Url,
    invalid,
    missing,
    parse,
    unsupported,
)
from infra.local.stripe.store import Context, Store, format_amount, new_id, now

# Stripe's minimum charge amounts (smallest unit) for common currencies; others go unchecked.
MIN_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}
MAX_AMOUNT = 99_999_999
SESSION_TTL_MIN_S = 30 * 60
SESSION_TTL_MAX_S = 24 * 3600
DISPUTE_FEE = 1500
DISPUTE_REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)

_DESTINATION_CHARGES = "destination charges are not emulated; create a Transfer instead"

LINE_ITEM = Obj(
    {
        "price": Str(),
        "price_data": Obj(
            {
                "currency": Currency(),
                "unit_amount": Int(minimum=0),
                "unit_amount_decimal": Unsupported("send an integer unit_amount"),
                "product": Str(),
                "product_data": Obj(
                    {
                        "name": Str(max_len=250),
                        "description": Str(),
                        "images": Arr(Str(), max_items=8),
                        "metadata": Metadata(),
                        "tax_code": Str(),
                        "unit_label": Str(max_len=12),
                    }
                ),
                "tax_behavior": Str(("exclusive", "inclusive", "unspecified")),
                "recurring": Unsupported("only one-time prices are emulated"),
            }
        ),
        "quantity": Int(minimum=1, maximum=999_999),
        "adjustable_quantity": Unsupported(),
        "tax_rates": Unsupported(),
        "dynamic_tax_rates": Unsupported(),
    }
)

SESSION_FIELDS = {
    "mode": Str(("payment", "setup", "subscription")),
    "line_items": Arr(LINE_ITEM, max_items=100),
    "success_url": Url(),
    "cancel_url": Url(),
    "client_reference_id": Str(max_len=200),
    "customer": Str(),
    "customer_email": Email(),
    "customer_creation": Str(("always", "if_required")),
    "currency": Currency(),
    "metadata": Metadata(),
    "expires_at": Int(),
    "payment_intent_data": Obj(
        {
            "metadata": Metadata(),
            "description": Str(max_len=1000),
            "receipt_email": Email(),
            "statement_descriptor": Str(max_len=22),
            "statement_descriptor_suffix": Str(max_len=22),
            "transfer_group": Str(),
            "capture_method": Str(("automatic", "automatic_async", "manual")),
            "transfer_data": Unsupported(_DESTINATION_CHARGES),
            "application_fee_amount": Unsupported(_DESTINATION_CHARGES),
            "on_behalf_of": Unsupported(_DESTINATION_CHARGES),
            "setup_future_usage": Unsupported("saved payment methods are not emulated"),
            "shipping": Anything(),
        }
    ),
    "payment_method_types": Arr(Str()),
    "ui_mode": Str(("hosted", "embedded", "custom")),
    "locale": Str(),
    "submit_type": Str(("auto", "book", "donate", "pay", "subscribe")),
    "billing_address_collection": Str(("auto", "required")),
    "allow_promotion_codes": Bool(),
    "payment_method_configuration": Str(),
    # Presentation-only options: they change what the hosted page shows, nothing Relay reads.
    "custom_text": Anything(),
    "custom_fields": Anything(),
    "consent_collection": Anything(),
    "phone_number_collection": Anything(),
    "shipping_address_collection": Anything(),
    "tax_id_collection": Anything(),
    "payment_method_options": Anything(),
    "after_expiration": Anything(),
    "customer_update": Anything(),
    "invoice_creation": Anything(),
    "automatic_tax": Anything(),
    "discounts": Unsupported("coupons are not emulated"),
    "subscription_data": Unsupported("subscriptions are not emulated"),
    "setup_intent_data": Unsupported("setup mode is not emulated"),
    "return_url": Unsupported("embedded Checkout is not emulated"),
}


# -- Checkout Sessions ------------------------------------------------------------------------


def create_checkout_session(store: Store, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
    p = parse(raw, SESSION_FIELDS)
    if "mode" not in p:
        raise missing("mode")
    if p["mode"] != "payment":
        raise unsupported("mode", "only mode=payment is emulated")
    if p.get("ui_mode", "hosted") != "hosted":
        raise unsupported("ui_mode", "only hosted Checkout is emulated")
    if p.get("payment_intent_data", {}).get("capture_method") == "manual":
        raise unsupported("payment_intent_data[capture_method]", "manual capture is not emulated")
    if not p.get("line_items"):
        raise missing("line_items")
    currency: str | None = p.get("currency")
    items: list[dict[str, Any]] = []
    for i, item in enumerate(p["line_items"]):
        line, currency = _line_item(item, f"line_items[{i}]", currency)
        items.append(line)
    assert currency is not None
    total = sum(line["amount_total"] for line in items)
    minimum = MIN_CHARGE.get(currency)
    if minimum is not None and total < minimum:
        raise invalid(
            "line_items",
            "The Checkout Session's total amount due must add up to at least "
            f"{format_amount(minimum, currency)}",
            "amount_too_small",
        )
    if total > MAX_AMOUNT:
        raise invalid(
            "line_items",
            f"The Checkout Session's total amount due must be no more than "
            f"{format_amount(MAX_AMOUNT, currency)}",
            "amount_too_large",
        )
    customer = p.get("customer")
    if customer is not None:
        for other in ("customer_email", "customer_creation"):
            if other in p:
                raise invalid(
                    other, f"You may only specify one of these parameters: customer, {other}."
                )
        store.get("customer", customer, ctx, param="customer", status=400)
    created = now()
    expires_at = p.get("expires_at", created + SESSION_TTL_MAX_S)
    if not created + SESSION_TTL_MIN_S <= expires_at <= created + SESSION_TTL_MAX_S:
        raise invalid(
            "expires_at",
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
        )
    session_id = new_id("cs_test_", 58)
    session = {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": p.get("allow_promotion_codes"),
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": p.get("billing_address_collection"),
        "cancel_url": p.get("cancel_url"),
        "client_reference_id": p.get("client_reference_id"),
        "client_secret": None,
        "created": created,
        "currency": currency,
        "custom_fields": [],
        "customer": customer,
        "customer_creation": None if customer else p.get("customer_creation", "if_required"),
        "customer_details": None,
        "customer_email": p.get("customer_email"),
        "expires_at": expires_at,
        "invoice": None,
        "livemode": False,
        "locale": p.get("locale"),
        "metadata": p.get("metadata", {}),
        "mode": "payment",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_types": p.get("payment_method_types", ["card"]),
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "setup_intent": None,
        "status": "open",
        "submit_type": p.get("submit_type"),
        "subscription": None,
        "success_url": p.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": store.url(ctx, f"/checkout/{session_id}"),
    }
    store.put(session, ctx.account)
    store.private[session_id] = {
        "line_items": items,
        "payment_intent_data": p.get("payment_intent_data", {}),
    }
    store.open_sessions.add(session_id)
    return session


def _line_item(item: dict[str, Any], path: str, currency: str | None) -> tuple[dict[str, Any], str]:
    if "price" in item:
        raise unsupported(f"{path}[price]", "Prices are not emulated; send price_data")
    data = item.get("price_data")
    if data is None:
        raise missing(f"{path}[price_data]")
    for name in ("currency", "unit_amount"):
        if name not in data:
            raise missing(f"{path}[price_data][{name}]")
    if "product" in data:
        raise unsupported(f"{path}[price_data][product]", "Products are not emulated")
    product = data.get("product_data")
    if product is None:
        raise missing(f"{path}[price_data][product_data]")
    if "name" not in product:
        raise missing(f"{path}[price_data][product_data][name]")
    if "quantity" not in item:
        raise missing(f"{path}[quantity]")
    if currency is not None and data["currency"] != currency:
        raise invalid(
            f"{path}[price_data][currency]",
            f"All line items must use the same currency; expected {currency}.",
        )
    amount = data["unit_amount"] * item["quantity"]
    line = {
        "id": new_id("li_"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": data["currency"],
        "description": product["name"],
        "price": {
            "id": new_id("price_"),
            "object": "price",
            "active": False,
            "billing_scheme": "per_unit",
            "created": now(),
            "currency": data["currency"],
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": new_id("prod_", 14),
            "recurring": None,
            "tax_behavior": data.get("tax_behavior", "unspecified"),
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": data["unit_amount"],
            "unit_amount_decimal": str(data["unit_amount"]),
        },
        "quantity": item["quantity"],
    }
    return line, data["currency"]


def retrieve_line_items(
    store: Store, ctx: Context, raw: dict[str, Any], session_id: str
) -> dict[str, Any]:
    parse(raw, LIST_FIELDS)
    store.get("checkout.session", session_id, ctx)
    return store.line_items(session_id)


def expire_checkout_session(
    store: Store, ctx: Context, raw: dict[str, Any], session_id: str
) -> dict[str, Any]:
    parse(raw, {})
    session = store.get("checkout.session", session_id, ctx)
    if session["status"] != "open":
        raise invalid(
            "",
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session["status"]}".',
        )
    _expire(store, session, ctx)
    return session


def _expire(store: Store, session: dict[str, Any], ctx: Context) -> None:
    session.update({"status": "expired", "url": None})
    store.open_sessions.discard(session["id"])
    store.emit("checkout.session.expired", session, ctx)


def expire_due(store: Store) -> None:
    """Expire open sessions whose ``expires_at`` has passed, as Stripe does on its own."""
    current = now()
    for session_id in sorted(store.open_sessions):
        rec = store.find("checkout.session", session_id)
        if rec is not None and rec.obj["expires_at"] <= current:
            _expire(store, rec.obj, Context(account=rec.owner))


def complete_checkout_session(store: Store, session_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Pay an open session as the customer would on the hosted page, with card `card`
    (4242..., when none is given; see cards.py), which succeeds."""
    p = parse(raw, {"email": Email(), "name": Str(max_len=256), "card": Str(max_len=32)})
    expire_due(store)
    rec = store.find_or_404("checkout.session", session_id)
    session, ctx = rec.obj, Context(account=rec.owner)
    if session["status"] != "open":
        raise StripeError(
            400,
            f"Checkout Session {session_id} cannot be paid: its status is {session['status']}.",
            code="checkout_session_not_open",
            param="id",
        )
    pi_data = store.private[session_id]["payment_intent_data"]
    customer_id = session["customer"]
    customer = store.records[customer_id].obj if customer_id else None
    email = (
        p.get("email")
        or session["customer_email"]
        or (customer or {}).get("email")
        or "customer@example.com"
    )
    name = p.get("name") or (customer or {}).get("name")
    card = card_details(p.get("card"))  # checked before anything changes
    if customer is None and session["customer_creation"] == "always":
        customer = _new_customer(store, ctx, {"email": email, "name": name})
        customer_id = customer["id"]
    amount, currency, created = session["amount_total"], session["currency"], now()
    pi_id, charge_id, method_id = new_id("pi_"), new_id("ch_"), new_id("pm_")
    intent = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount,
        "application": None,
        "application_fee_amount": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": pi_data.get("capture_method", "automatic_async"),
        "client_secret": f"{pi_id}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "description": pi_data.get("description"),
        "last_payment_error": None,
        "latest_charge": charge_id,
        "livemode": False,
        "metadata": pi_data.get("metadata", {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": method_id,
        "payment_method_types": session["payment_method_types"],
        "processing": None,
        "receipt_email": pi_data.get("receipt_email"),
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": pi_data.get("statement_descriptor"),
        "statement_descriptor_suffix": pi_data.get("statement_descriptor_suffix"),
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": pi_data.get("transfer_group"),
    }
    fee = (amount * 29 + 500) // 1000 + 30  # 2.9% + 30c, Stripe's standard card pricing
    txn = _balance_transaction(store, ctx, amount, currency, "charge", charge_id, fee)
    charge = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": txn["id"],
        "billing_details": {"address": None, "email": email, "name": name, "phone": None},
        "calculated_statement_descriptor": "RELAY LOCAL",
        "captured": True,
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "description": intent["description"],
        "disputed": False,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": pi_id,
        "payment_method": method_id,
        "payment_method_details": {
            "card": card,
            "type": "card",
        },
        "receipt_email": intent["receipt_email"],
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": intent["statement_descriptor"],
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": intent["transfer_group"],
    }
    store.put(intent, ctx.account)
    store.put(charge, ctx.account)
    session.update(
        {
            "status": "complete",
            "payment_status": "paid",
            "payment_intent": pi_id,
            "customer": customer_id,
            "customer_details": {
                "address": None,
                "email": email,
                "name": name,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
            "url": None,
        }
    )
    store.open_sessions.discard(session_id)
    created_snapshot = {
        **intent,
        "amount_received": 0,
        "latest_charge": None,
        "payment_method": None,
        "status": "requires_payment_method",
    }
    store.emit("payment_intent.created", created_snapshot, ctx)
    store.emit("charge.succeeded", charge, ctx)
    store.emit("payment_intent.succeeded", intent, ctx)
    store.emit("checkout.session.completed", session, ctx)
    return session


def _balance_transaction(
    store: Store,
    ctx: Context,
    amount: int,
    currency: str,
    kind: str,
    source: str,
    fee: int = 0,
) -> dict[str, Any]:
    created = now()
    txn = {
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 2 * 86400,
        "created": created,
        "currency": currency,
        "description": None,
        "fee": fee,
        "fee_details": (
            [
                {
                    "amount": fee,
                    "currency": currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        ),
        "net": amount - fee,
        "reporting_category": kind,
        "source": source,
        "status": "pending",
        "type": kind,
    }
    return store.put(txn, ctx.account)


# -- Customers ------------------------------------------------------------------------------

CUSTOMER_FIELDS = {
    "email": Email(),
    "name": Str(max_len=256),
    "description": Str(),
    "phone": Str(max_len=20),
    "metadata": Metadata(),
    "address": Anything(),
    "shipping": Anything(),
    "preferred_locales": Arr(Str()),
}


def create_customer(store: Store, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
    return _new_customer(store, ctx, parse(raw, CUSTOMER_FIELDS))


def _new_customer(store: Store, ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    customer = {
        "id": new_id("cus_", 14),
        "object": "customer",
        "address": p.get("address"),
        "balance": 0,
        "created": now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": p.get("description"),
        "email": p.get("email"),
        "invoice_prefix": new_id("", 8).upper(),
        "livemode": False,
        "metadata": p.get("metadata", {}),
        "name": p.get("name"),
        "phone": p.get("phone"),
        "preferred_locales": p.get("preferred_locales", []),
        "shipping": p.get("shipping"),
        "tax_exempt": "none",
    }
    store.put(customer, ctx.account)
    store.emit("customer.created", customer, ctx)
    return customer


# -- Refunds --------------------------------------------------------------------------------

REFUND_FIELDS = {
    "payment_intent": Str(),
    "charge": Str(),
    "amount": Int(minimum=1),
    "reason": Str(("duplicate", "fraudulent", "requested_by_customer")),
    "metadata": Metadata(),
    "instructions_email": Email(),
    "refund_application_fee": Unsupported(_DESTINATION_CHARGES),
    "reverse_transfer": Unsupported(_DESTINATION_CHARGES),
    "origin": Unsupported(),
}


def create_refund(store: Store, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
    p = parse(raw, REFUND_FIELDS)
    if "charge" not in p and "payment_intent" not in p:
        raise StripeError(
            400,
            "One of the following params should be provided for this request: payment_intent "
            "or charge.",
            code="parameter_missing",
        )
    charge_id = p.get("charge")
    if "payment_intent" in p:
        intent = store.get(
            "payment_intent", p["payment_intent"], ctx, param="payment_intent", status=400
        )
        if intent["latest_charge"] is None:
            raise invalid(
                "payment_intent",
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            )
        if charge_id is not None and charge_id != intent["latest_charge"]:
            raise invalid("charge", f"Charge {charge_id} does not belong to {intent['id']}.")
        charge_id = intent["latest_charge"]
    assert charge_id is not None
    charge = store.get("charge", charge_id, ctx, param="charge", status=400)
    if charge["disputed"]:
        raise StripeError(
            400,
            f"Charge {charge_id} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    if charge["refunded"]:
        raise StripeError(
            400, f"Charge {charge_id} has already been refunded.", code="charge_already_refunded"
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    amount = p.get("amount", remaining)
    if amount > remaining:
        currency = charge["currency"]
        raise invalid(
            "amount",
            f"Refund amount ({format_amount(amount, currency)}) is greater than unrefunded amount "
            f"on charge ({format_amount(remaining, currency)})",
            "amount_too_large",
        )
    refund_id = new_id("re_")
    txn = _balance_transaction(store, ctx, -amount, charge["currency"], "refund", refund_id)
    refund = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn["id"],
        "charge": charge_id,
        "created": now(),
        "currency": charge["currency"],
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": p.get("metadata", {}),
        "payment_intent": charge["payment_intent"],
        "reason": p.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    store.put(refund, ctx.account)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    store.emit("refund.created", refund, ctx)
    store.emit("charge.refunded", charge, ctx, previous)
    return refund


# -- Disputes (created by the card network; locally through a helper) -------------------------


def create_dispute(store: Store, charge_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    p = parse(raw, {"amount": Int(minimum=1), "reason": Str(DISPUTE_REASONS)})
    rec = store.find_or_404("charge", charge_id)
    charge, ctx = rec.obj, Context(account=rec.owner)
    if charge["disputed"]:
        raise invalid("id", f"Charge {charge_id} is already disputed.")
    amount = p.get("amount", charge["amount"])
    if amount > charge["amount"]:
        raise invalid("amount", "A dispute cannot be for more than the charge amount.")
    dispute_id, created = new_id("dp_"), now()
    txn = _balance_transaction(
        store, ctx, -amount, charge["currency"], "adjustment", dispute_id, DISPUTE_FEE
    )
    dispute = {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [dict(txn)],
        "charge": charge_id,
        "created": created,
        "currency": charge["currency"],
        "evidence": {},
        "evidence_details": {
            "due_by": created + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": p.get("reason", "fraudulent"),
        "status": "needs_response",
    }
    store.put(dispute, ctx.account)
    charge["disputed"] = True
    store.emit("charge.dispute.created", dispute, ctx)
    store.emit("charge.dispute.funds_withdrawn", dispute, ctx)
    return dispute


def close_dispute(store: Store, dispute_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    p = parse(raw, {"status": Str(("won", "lost"))})
    if "status" not in p:
        raise missing("status")
    rec = store.find_or_404("dispute", dispute_id)
    dispute, ctx = rec.obj, Context(account=rec.owner)
    if dispute["status"] in ("won", "lost"):
        raise invalid("status", f"Dispute {dispute_id} is already closed ({dispute['status']}).")
    previous = {"status": dispute["status"]}
    dispute["status"] = p["status"]
    if p["status"] == "won":
        txn = _balance_transaction(
            store, ctx, dispute["amount"], dispute["currency"], "adjustment", dispute_id
        )
        dispute["balance_transactions"].append(dict(txn))
        store.emit("charge.dispute.funds_reinstated", dispute, ctx)
    store.emit("charge.dispute.closed", dispute, ctx, previous)
    return dispute
