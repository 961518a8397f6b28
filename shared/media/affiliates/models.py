"""The affiliate programme's names, numbers and records.

Invariants: every collection name, rate, window and limit of the programme is defined here
once and read from here by the other modules; the records are plain pydantic models with no
behaviour, so importing this module touches no store and no settings; an affiliate's
commissions credit their earnings account, `ledger.earnings_account(<id>)`, never their
prepaid (spending) balance, and payouts draw only on it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel

AFFILIATES = "affiliates"
CODES = "affiliate_codes"
BINDINGS = "affiliate_bindings"
OPEN_REQUESTS = "affiliate_open_requests"
COMMISSIONS = "commissions"  # subcollection of an affiliate
PAYOUT_REQUESTS = "payout_requests"  # subcollection of an affiliate
PAYOUTS = "payouts"  # subcollection of an affiliate
FINGERPRINTS = "payment_fingerprints"  # <keyed hash of provider:fingerprint> -> account ids

COMMISSION_RATE_BPS = 1000
COMMISSION_WINDOW = dt.timedelta(days=365)
PAYOUT_MINIMUM_MICROS = 10_000_000
ATTRIBUTION_COOKIE = "kt_aff"
ATTRIBUTION_TTL = dt.timedelta(days=30)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no I, L, O, 0, 1
CODE_LENGTH = 8


class Status(StrEnum):
    ACTIVE = "active"


class PayoutStatus(StrEnum):
    REQUESTED = "requested"
    PAID = "paid"


class Reason(StrEnum):
    """Why an affiliate may not request a payout now."""

    NOT_ACTIVE = "not_active"
    NO_PAYOUT_ADDRESS = "payout_address_missing"
    BELOW_MINIMUM = "below_minimum"
    REQUEST_OPEN = "payout_request_open"


class Profile(BaseModel):
    account_id: str
    code: str
    status: Status
    display_name: str
    contact_email: str
    country_code: str | None = None
    payout_address: str | None = None
    terms_version: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    # Counters, each moved in the batch that writes what it counts.
    referred_count: int = 0
    commission_count: int = 0
    earned_micros: int = 0
    requested_micros: int = 0
    paid_micros: int = 0
    clawed_back_micros: int = 0
    payout_request_count: int = 0


class Binding(BaseModel):
    account_id: str  # the referred account
    affiliate_account_id: str
    code: str
    source: str  # "bind_code" | "purchase"
    bound_at: dt.datetime
    commission_until: dt.datetime
    # Set when the referred account and the affiliate paid with the same card or wallet:
    # no commission is earned on it from then on.
    self_referral: bool = False


class Commission(BaseModel):
    id: str  # the top-up's ledger ref
    affiliate_account_id: str
    deposit_micros: int
    commission_micros: int
    rate_bps: int
    # "held" until payable_at (the top-up's refund window), then "available";
    # "self_referral": not earned (commission_micros 0; withheld_micros says what it would be)
    status: str
    created_at: dt.datetime
    recovered_micros: int = 0  # taken back after a refund or dispute of the top-up
    payable_at: dt.datetime | None = None  # None: recorded before holds, payable
    withheld_micros: int = 0


class PayoutRequest(BaseModel):
    id: str  # <affiliate account id>:<n>
    affiliate_account_id: str
    amount_micros: int
    status: PayoutStatus
    note: str | None = None
    payout_address: str | None = None
    created_at: dt.datetime
    paid_at: dt.datetime | None = None
    reference: str | None = None


class Capture(BaseModel):
    code: str
    token: str
    expires_at: dt.datetime


class Dashboard(BaseModel):
    profile: Profile
    available_micros: int  # payable now: earnings less what is still held
    held_micros: int = 0  # commissions inside their top-up's refund window
    reasons: list[Reason]
