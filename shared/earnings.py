"""Earned money that may leave: one rule for every payout path.

Grid worker earnings, Tarsify creator earnings and Killa Tamata affiliate commissions all
land on one earnings account per person (`ledger.earnings_account`). Two kinds hold part of
it back for a while: grid earnings for their settlement window (fraud found later can be
reversed) and commissions for the referred top-up's refund window. Every payout (grid,
Tarsify, affiliates) pays at most `payable_micros`: the available balance less what EVERY
kind still holds back, so no payout path can pay out money another kind is holding.

The ledger debit of a payout is still what guarantees the balance never goes negative; this
rule decides how much of the balance is payable at all.
"""

from __future__ import annotations

import datetime as dt

from shared.engine import clock, ledger


def unsettled_micros(account_id: str, *, now: dt.datetime | None = None) -> int:
    """What the person's earnings still hold back (grid settling + held commissions)."""
    from shared.grid.credits import settling_micros
    from shared.media.affiliates.commissions import held_micros

    now = now or clock.now()
    grid = settling_micros(ledger.earnings_account(account_id), now=now)
    return max(0, grid) + max(0, held_micros(account_id))


def payable_micros(account_id: str, *, now: dt.datetime | None = None) -> int:
    """The earnings that may be paid out now (never below zero)."""
    available = ledger.balance(ledger.earnings_account(account_id)).available_micros
    return max(0, available - unsettled_micros(account_id, now=now))
