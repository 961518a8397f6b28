"""Credit packages: what a Stripe or Coinbase checkout sells. One dollar buys one dollar of
prepaid credit; prices are integer US cents and credit integer USD micros."""

from __future__ import annotations

from dataclasses import dataclass

from shared.engine.errors import AppError, ErrorKind
from shared.engine.money import MICROS_PER_CENT


@dataclass(frozen=True)
class Package:
    code: str
    name: str
    price_cents: int
    description: str

    @property
    def credit_micros(self) -> int:
        return self.price_cents * MICROS_PER_CENT

    def public(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "currency": "usd",
            "priceUsdCents": self.price_cents,
            "creditUsdMicros": self.credit_micros,
        }


PACKAGES: tuple[Package, ...] = (
    Package("starter_5", "Starter", 500, "$5 of prepaid credit"),
    Package("creator_20", "Creator", 2_000, "$20 of prepaid credit"),
    Package("studio_50", "Studio", 5_000, "$50 of prepaid credit"),
    Package("pro_100", "Pro", 10_000, "$100 of prepaid credit"),
)
_BY_CODE = {p.code: p for p in PACKAGES}


def get(code: str) -> Package:
    try:
        return _BY_CODE[code]
    except KeyError:
        raise AppError(
            ErrorKind.INVALID, f"unknown packageCode {code[:64]!r}", {"code": "unknown_package"}
        ) from None
