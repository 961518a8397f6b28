"""What happens to a charge on the local Coinbase Commerce server: creation, listing, payment,
expiry, manual resolution and cancellation, with Commerce's legacy status and context rules.

Money is USD only, parsed from strings with at most two decimals and added up in ``Decimal``,
never in floats. A payment is always recorded (CONFIRMED, USDC 1:1) before the status is
decided from the total paid, so nothing paid is ever dropped, whatever the charge's state.
Every function validates before it changes anything and raises `CommerceError` on bad input;
callers hold the store's lock.
"""

from __future__ import annotations

import re
import secrets
import string
import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from infra.local.coinbase.store import OPEN, Store, context_of, status_of
from infra.local.coinbase.wire import invalid, iso

CENTS = Decimal("0.01")
MAX_NAME, MAX_DESCRIPTION = 100, 200
MAX_LIMIT, DEFAULT_LIMIT = 100, 25


def money(amount: Decimal) -> str:
    return str(amount.quantize(CENTS))


def parse_amount(value: Any, what: str) -> Decimal:
    """A positive USD amount given as a string with at most two decimals."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", value.strip()):
        raise invalid(f'{what} must be a string like "10.00"')
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise invalid(f'{what} must be a string like "10.00"') from None
    if amount <= 0:
        raise invalid(f"{what} must be greater than 0")
    return amount


def _optional_url(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"https?://", value):
        raise invalid(f"{name} must be an http(s) URL")
    return value


def create_charge(store: Store, body: dict[str, Any], base_url: str) -> dict[str, Any]:
    known = {
        "name",
        "description",
        "pricing_type",
        "local_price",
        "metadata",
        "redirect_url",
        "cancel_url",
    }
    unknown = sorted(set(body) - known)
    if unknown:
        raise invalid(f"Unknown parameter: {unknown[0]}")
    name, description = body.get("name"), body.get("description")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise invalid(f"name is required (a string of at most {MAX_NAME} characters)")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise invalid(f"description is required (at most {MAX_DESCRIPTION} characters)")
    if body.get("pricing_type") != "fixed_price":
        raise invalid("pricing_type must be fixed_price")
    price = body.get("local_price")
    if not isinstance(price, dict) or not {"amount", "currency"} <= set(price):
        raise invalid('local_price is required: {"amount": "10.00", "currency": "USD"}')
    if price["currency"] != "USD":
        raise invalid("local_price.currency must be USD")
    amount = parse_amount(price["amount"], "local_price.amount")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise invalid("metadata must be an object of strings")
    redirect_url, cancel_url = (
        _optional_url(body, "redirect_url"),
        _optional_url(body, "cancel_url"),
    )
    code = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
    while code in store.codes:
        code = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
    now = time.time()
    charge: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "resource": "charge",
        "code": code,
        "name": name,
        "description": description,
        "hosted_url": f"{base_url.rstrip('/')}/pay/{code}",
        "created_at": iso(now),
        "expires_at": iso(now + store.charge_ttl_s),
        "confirmed_at": None,
        "pricing_type": "fixed_price",
        "pricing": {"local": {"amount": money(amount), "currency": "USD"}},
        "payments": [],
        "timeline": [{"time": iso(now), "status": "NEW"}],
        "metadata": dict(metadata),
        "redirect_url": redirect_url,
        "cancel_url": cancel_url,
    }
    store.charges[charge["id"]] = charge
    store.codes[code] = charge["id"]
    store.expiry[charge["id"]] = now + store.charge_ttl_s
    store.emit("charge:created", charge)
    return charge


def pay_charge(store: Store, charge: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    price = Decimal(charge["pricing"]["local"]["amount"])
    raw_amount = body.get("amount")
    amount = price if raw_amount in (None, "") else parse_amount(raw_amount, "amount")
    pending_first = body.get("pending_first") in (True, "true", "1", "on")
    now = time.time()
    payment: dict[str, Any] = {
        "network": "base",
        "transaction_id": "0x" + secrets.token_hex(32),
        "status": "CONFIRMED",
        "detected_at": iso(now),
        "value": {
            "local": {"amount": money(amount), "currency": "USD"},
            "crypto": {"amount": money(amount), "currency": "USDC"},
        },
    }
    status, context = status_of(charge), context_of(charge)
    reopenable = status in OPEN or (status, context) == ("UNRESOLVED", "UNDERPAID")
    past_expiry = store.expiry[charge["id"]] <= now
    expired = status in ("EXPIRED", "CANCELED") or (reopenable and past_expiry)
    if expired:
        charge["payments"].append(payment)
        store.move(charge, "UNRESOLVED", context="DELAYED", event="charge:delayed")
        return charge
    if not reopenable:
        charge["payments"].append(payment)
        store.move(charge, "UNRESOLVED", context="MULTIPLE", event="charge:failed")
        return charge
    if pending_first and status == "NEW":
        charge["payments"].append({**payment, "status": "PENDING"})
        store.move(charge, "PENDING", event="charge:pending")
        charge["payments"][-1] = payment
    else:
        charge["payments"].append(payment)
    paid = sum(
        (Decimal(p["value"]["local"]["amount"]) for p in charge["payments"]),
        Decimal(0),
    )
    if paid == price:
        charge["confirmed_at"] = iso(time.time())
        store.move(charge, "COMPLETED", event="charge:confirmed")
    else:
        context = "UNDERPAID" if paid < price else "OVERPAID"
        store.move(charge, "UNRESOLVED", context=context, event="charge:failed")
    return charge


def expire_charge(store: Store, charge: dict[str, Any]) -> dict[str, Any]:
    if status_of(charge) not in OPEN:
        raise invalid(f"Only NEW or PENDING charges can expire; this one is {status_of(charge)}")
    store.expiry[charge["id"]] = min(store.expiry[charge["id"]], time.time())
    charge["expires_at"] = iso(store.expiry[charge["id"]])
    store.move(charge, "EXPIRED", event="charge:failed")
    return charge


def resolve_charge(store: Store, charge: dict[str, Any]) -> dict[str, Any]:
    if status_of(charge) != "UNRESOLVED":
        raise invalid(f"Only UNRESOLVED charges can be resolved; this one is {status_of(charge)}")
    store.move(charge, "RESOLVED", context="MANUAL", event="charge:resolved")
    return charge


def cancel_charge(store: Store, charge: dict[str, Any]) -> dict[str, Any]:
    if status_of(charge) != "NEW" or charge["payments"]:
        raise invalid("Only NEW charges without payments can be canceled")
    store.move(charge, "CANCELED", event=None)
    return charge


def list_charges(store: Store, args: dict[str, str]) -> dict[str, Any]:
    try:
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise invalid("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIMIT}")
    order = args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("order must be asc or desc")
    ids = list(store.charges) if order == "asc" else list(reversed(store.charges))
    after, before = args.get("starting_after"), args.get("ending_before")
    for cursor in (after, before):
        if cursor is not None and cursor not in store.charges:
            raise invalid(f"No such charge: {cursor}")
    if after is not None:
        ids = ids[ids.index(after) + 1 :]
    if before is not None:
        ids = ids[: ids.index(before)][-limit:]
    page = ids[:limit]
    return {
        "pagination": {
            "order": order,
            "starting_after": after,
            "ending_before": before,
            "total": len(store.charges),
            "yielded": len(page),
            "limit": limit,
            "cursor_range": [page[0], page[-1]] if page else [],
            "previous_uri": None,
            "next_uri": f"/charges?limit={limit}&order={order}&starting_after={page[-1]}"
            if page and before is None and len(ids) > limit
            else None,
        },
        "data": [store.charges[i] for i in page],
    }
