"""Money units. All money in Relay is integer USD micros; credits are a display unit."""

from __future__ import annotations

MICROS_PER_USD = 1_000_000
MICROS_PER_CREDIT = 10_000  # 1 credit = $0.01


def credits_to_micros(credits: int) -> int:
    return credits * MICROS_PER_CREDIT


def micros_to_whole_credits(micros: int) -> int:
    """Whole credits a balance covers (rounded down, never negative)."""
    return max(0, micros) // MICROS_PER_CREDIT


MICROS_PER_CENT = 10_000
