"""The Payments port for Coinbase Commerce: charges over its REST API, and verified webhooks.

The same code talks to Coinbase (``https://api.commerce.coinbase.com``) and to the local
Commerce server (infra/local/coinbase_server.py); only ``coinbase_api_base`` differs. Money
never passes through a float: Commerce's decimal strings are parsed with ``Decimal`` into
integer USD cents, a price must be a whole number of cents, a payment's USD value is rounded
down to the cent (never credit more than arrived), and a charge or payment whose local currency
is not USD is refused with AppError(INVALID) rather than counted as zero, since Relay only
creates USD charges and a foreign amount means the data is not what we think. Only CONFIRMED
payments count toward ``confirmed_cents``; a charge's status or an event's type never does.
A webhook is trusted only after its X-CC-Webhook-Signature (hex HMAC-SHA256 of the raw body
with the shared secret) matches in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx

from shared.engine.clients import http_client
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.validate import loads_json

API_VERSION = "2018-03-22"
CONFIRMED = "CONFIRMED"
SIGNATURE_HEADER = "X-CC-Webhook-Signature"
_CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Payment:
    id: str  # stable id: the payment's network + transaction_id
    status: str  # "CONFIRMED", "PENDING", ...
    usd_cents: int  # value.local in USD cents


@dataclass(frozen=True)
class Charge:
    id: str
    code: str
    hosted_url: str
    status: str  # latest timeline status, e.g. "NEW", "COMPLETED", "UNRESOLVED"
    context: str | None  # latest timeline context, e.g. "UNDERPAID"
    price_cents: int  # pricing.local amount in USD cents
    payments: tuple[Payment, ...]
    metadata: dict[str, str]


def create_charge(
    *,
    name: str,
    description: str,
    amount_cents: int,
    metadata: dict[str, str],
    redirect_url: str | None,
    cancel_url: str | None,
) -> Charge:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise AppError(ErrorKind.INVALID, "amount_cents must be a positive integer")
    body: dict[str, Any] = {
        "name": name,
        "description": description,
        "pricing_type": "fixed_price",
        "local_price": {
            "amount": f"{amount_cents // 100}.{amount_cents % 100:02d}",
            "currency": "USD",
        },
        "metadata": dict(metadata),
    }
    if redirect_url is not None:
        body["redirect_url"] = redirect_url
    if cancel_url is not None:
        body["cancel_url"] = cancel_url
    return _charge_response(_call("POST", "/charges", body))


def get_charge(charge_id: str) -> Charge:
    """A charge by id or code; AppError NOT_FOUND if Commerce has none."""
    if not charge_id:
        raise AppError(ErrorKind.NOT_FOUND, "no such Coinbase charge")
    return _charge_response(_call("GET", f"/charges/{quote(charge_id, safe='')}"))


def charge_from(data: dict[str, Any]) -> Charge:
    """Parse a Commerce charge (an API answer's ``data`` or an event's ``data``)."""
    try:
        timeline = data["timeline"]
        latest = timeline[-1] if timeline else {}
        local = data["pricing"]["local"]
        metadata = data.get("metadata") or {}
        return Charge(
            id=_text(data["id"]),
            code=_text(data["code"]),
            hosted_url=_text(data.get("hosted_url") or ""),
            status=_text(latest.get("status") or "NEW").upper(),
            context=_text(latest["context"]).upper() if latest.get("context") else None,
            price_cents=_usd_cents(local, exact=True),
            payments=tuple(_payment_from(p) for p in data.get("payments") or ()),
            metadata={str(k): str(v) for k, v in metadata.items()},
        )
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise AppError(ErrorKind.INVALID, "malformed Coinbase charge") from exc


def confirmed_cents(charge: Charge) -> int:
    return sum(p.usd_cents for p in charge.payments if p.status == CONFIRMED)


def verified_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    """The delivery's inner ``event`` dict, once its signature holds."""
    secret = get_settings().coinbase_webhook_secret
    if not secret:
        raise AppError(ErrorKind.INTERNAL, "Coinbase webhook secret is not configured")
    if not signature:
        raise AppError(ErrorKind.INVALID, f"missing {SIGNATURE_HEADER}")
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(expected, signature.strip().lower().encode()):
        raise AppError(ErrorKind.INVALID, "invalid Coinbase webhook signature")
    delivery = loads_json(payload)  # depth-safe, INVALID on anything but JSON
    event = delivery.get("event") if isinstance(delivery, dict) else None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("data"), dict)
    ):
        raise AppError(ErrorKind.INVALID, "Coinbase webhook lacks event id, type or data")
    return event


# -- plumbing ----------------------------------------------------------------------------------


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    settings = get_settings()
    headers = {
        "X-CC-Api-Key": settings.coinbase_api_key,
        "X-CC-Version": API_VERSION,
        "Accept": "application/json",
    }
    url = settings.coinbase_api_base.rstrip("/") + path
    try:
        response = http_client().request(method, url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise AppError(ErrorKind.UNAVAILABLE, "Coinbase Commerce is unreachable") from exc
    status = response.status_code
    if status == 404:
        raise AppError(ErrorKind.NOT_FOUND, "no such Coinbase charge")
    if status in (401, 403):
        # Our key is wrong or revoked: a configuration fault, not the caller's.
        raise AppError(ErrorKind.INTERNAL, "Coinbase Commerce rejected the API key")
    if status == 429 or status >= 500:
        raise AppError(ErrorKind.UNAVAILABLE, f"Coinbase Commerce answered {status}")
    if status >= 400:
        raise AppError(
            ErrorKind.INVALID,
            "Coinbase Commerce refused the request",
            {"status": status, "error": _error_message(response)},
        )
    try:
        return response.json()
    except ValueError as exc:
        raise AppError(ErrorKind.UNAVAILABLE, "Coinbase Commerce answered non-JSON") from exc


def _charge_response(answer: Any) -> Charge:
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
        raise AppError(ErrorKind.UNAVAILABLE, "unexpected Coinbase Commerce answer")
    return charge_from(answer["data"])


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def _payment_from(data: dict[str, Any]) -> Payment:
    return Payment(
        id=f"{_text(data['network'])}:{_text(data['transaction_id'])}",
        status=_text(data.get("status") or "").upper(),
        usd_cents=_usd_cents(data["value"]["local"], exact=False),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _usd_cents(money: dict[str, Any], *, exact: bool) -> int:
    """USD cents of a Commerce ``{"amount": "10.00", "currency": "USD"}``."""
    if money.get("currency") != "USD":
        raise AppError(
            ErrorKind.INVALID, "Coinbase amount is not in USD", {"currency": money.get("currency")}
        )
    try:
        amount = Decimal(_text(money["amount"]))
        if not amount.is_finite() or amount < 0:
            raise InvalidOperation
        cents = amount.quantize(_CENTS, rounding=ROUND_DOWN)
    except InvalidOperation as exc:
        raise AppError(ErrorKind.INVALID, "Coinbase amount is not a valid USD amount") from exc
    if exact and cents != amount:
        raise AppError(ErrorKind.INVALID, "Coinbase price is not a whole number of cents")
    return int(cents * 100)
