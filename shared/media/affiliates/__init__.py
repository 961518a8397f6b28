"""The Killa Tamata affiliate programme: codes, attribution, commissions and payouts.

Rules: applying makes the caller an affiliate at once (status `active`) with an
8-character code (uppercase letters and digits without look-alikes); codes are case-
insensitive. A referred account is bound to one affiliate, once: the first binding (bind-
code, or the `affiliateCode` of a checkout or x402 purchase) wins, and nobody refers
themself (nor through an alias of their own mailbox); a purchase binds only once it
succeeded. For 365 days after binding, every settled top-up of the referred account pays
the affiliate 10% (1000 bps, integer floor of the micros) into the affiliate's earnings
account `ledger.earnings_account(<account id>)`, apart from their spending balance,
available at once. A refund or lost dispute of the top-up takes back the same share of its
commission (commission x taken / deposit) from what the affiliate has available; what was
already paid out is recorded on the commission as `unrecovered_micros`; a dispute won
gives it back. An affiliate may request a payout of everything available once they are
active, have a payout address, have at least $10 available and no request open; an
operator marks it paid (`relay affiliates pay`). Invariants: a code names one affiliate
(`affiliate_codes/<CODE>` is created in the batch that creates the profile); an account is
bound at most once (`affiliate_bindings/<account>` by create()); a top-up pays commission
at most once (its ledger credit `commission:<top-up ref>` and the record
`affiliates/<id>/commissions/<top-up ref>` are creates in the top-up's own batch, whose
`topup:<ref>` create already makes it exactly-once); money leaves the affiliate ledger
only by the payout debit committed in the batch that creates the request and the open-
request guard `affiliate_open_requests/<id>`, so an affiliate never has two requests open
and earned = available + requested + paid + clawed back.

Layout: models.py (names, numbers, records), profiles.py (apply, update, codes, resolve),
attribution.py (signed capture tokens), bindings.py (bind-code, bind before a purchase),
commissions.py (commission writes, clawback, listing), payouts.py (eligibility, dashboard,
requests, mark paid). This package re-exports their public names, so callers use
`affiliates.<name>`.
"""

from __future__ import annotations

from shared.media.affiliates.attribution import capture, token_code
from shared.media.affiliates.bindings import (
    bind_code,
    bind_for_purchase,
    mailbox,
    purchase_referrer,
)
from shared.media.affiliates.commissions import (
    clawback,
    commission_writes,
    list_commissions,
    reinstate_commission,
    withhold_found_later,
)
from shared.media.affiliates.fingerprints import fingerprint_id, fingerprint_writes, same_payer
from shared.media.affiliates.models import (
    AFFILIATES,
    ATTRIBUTION_COOKIE,
    ATTRIBUTION_TTL,
    BINDINGS,
    CODE_ALPHABET,
    CODE_LENGTH,
    CODES,
    COMMISSION_RATE_BPS,
    COMMISSION_WINDOW,
    COMMISSIONS,
    FINGERPRINTS,
    OPEN_REQUESTS,
    PAYOUT_MINIMUM_MICROS,
    PAYOUT_REQUESTS,
    PAYOUTS,
    Binding,
    Capture,
    Commission,
    Dashboard,
    PayoutRequest,
    PayoutStatus,
    Profile,
    Reason,
    Status,
)
from shared.media.affiliates.payouts import (
    dashboard,
    list_payout_requests,
    list_payouts,
    mark_paid,
    request_payout,
)
from shared.media.affiliates.profiles import (
    apply,
    find_profile,
    get_profile,
    landing_url,
    normal_code,
    referral_url,
    resolve,
    update,
    validate_code,
)

__all__ = [
    "AFFILIATES",
    "ATTRIBUTION_COOKIE",
    "ATTRIBUTION_TTL",
    "BINDINGS",
    "CODES",
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "COMMISSIONS",
    "COMMISSION_RATE_BPS",
    "COMMISSION_WINDOW",
    "FINGERPRINTS",
    "OPEN_REQUESTS",
    "PAYOUTS",
    "PAYOUT_MINIMUM_MICROS",
    "PAYOUT_REQUESTS",
    "Binding",
    "Capture",
    "Commission",
    "Dashboard",
    "PayoutRequest",
    "PayoutStatus",
    "Profile",
    "Reason",
    "Status",
    "apply",
    "bind_code",
    "bind_for_purchase",
    "capture",
    "clawback",
    "commission_writes",
    "dashboard",
    "find_profile",
    "fingerprint_id",
    "fingerprint_writes",
    "get_profile",
    "landing_url",
    "list_commissions",
    "list_payout_requests",
    "list_payouts",
    "mailbox",
    "mark_paid",
    "normal_code",
    "purchase_referrer",
    "referral_url",
    "reinstate_commission",
    "request_payout",
    "resolve",
    "same_payer",
    "token_code",
    "update",
    "validate_code",
    "withhold_found_later",
]
