"""Test cards of the local Stripe server: what a card number shows on a Charge.

Invariants: a payment is made with a card number (Stripe's test card 4242 4242 4242 4242
when none is given); a number that is not 12-19 digits passing the Luhn check is refused
with Stripe's 402 ``card_error`` / ``incorrect_number`` and changes nothing. The Charge's
``payment_method_details.card`` carries brand, last4, funding and ``fingerprint``: like
Stripe's, the fingerprint is stable per card number (the same number always gives the same
one, across server restarts), opaque (16 alphanumeric characters, not derivable into the
number without trying numbers) and different for different numbers.
"""

from __future__ import annotations

import hashlib
import string
from typing import Any

from infra.local.stripe.params import StripeError

DEFAULT_CARD = "4242424242424242"
_ALPHABET = string.digits + string.ascii_letters
_FINGERPRINT_SALT = b"relay stripe-local card fingerprint v1:"


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch)
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def fingerprint(number: str) -> str:
    value = int.from_bytes(hashlib.sha256(_FINGERPRINT_SALT + number.encode()).digest(), "big")
    out = []
    for _ in range(16):
        value, rem = divmod(value, len(_ALPHABET))
        out.append(_ALPHABET[rem])
    return "".join(out)


def card_details(raw_number: str | None) -> dict[str, Any]:
    """The ``payment_method_details.card`` of a Charge paid with this card number."""
    number = (raw_number or DEFAULT_CARD).replace(" ", "").replace("-", "")
    if not (number.isdigit() and 12 <= len(number) <= 19 and _luhn_ok(number)):
        raise StripeError(
            402,
            "Your card number is incorrect.",
            type="card_error",
            code="incorrect_number",
            param="card",
        )
    return {
        "brand": _brand(number),
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": "US",
        "exp_month": 12,
        "exp_year": 2034,
        "fingerprint": fingerprint(number),
        "funding": "credit",
        "last4": number[-4:],
        "network": _brand(number),
    }
