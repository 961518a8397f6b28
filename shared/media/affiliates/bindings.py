"""Binding a referred account to its affiliate, once.

Invariants: an account is bound at most once: `affiliate_bindings/<account>` is a create(), so the
first binding (bind-code, or the `affiliateCode` of a checkout or x402 purchase) wins and a later
one reads back the existing binding instead; the affiliate's `referred_count` moves in that same
batch, so it counts bindings exactly; nobody refers themself, not even through another account on an
alias of the same mailbox (same_mailbox(): case, `+tags`, and Gmail's dots and googlemail.com), nor
through an account that paid with the same card or wallet (fingerprints.same_payer(), when that is
known at bind time; a match found later is caught at each top-up's settlement,
shared/media/affiliates/commissions.py); a purchase's `affiliateCode` is checked before the purchase
but bound only after the purchase request succeeded (purchase_referrer() then bind_for_purchase()),
so a refused or failed request binds nobody; a binding opens a commission window of
COMMISSION_WINDOW (365 days) from the moment it is made and is never changed afterwards.
"""

from __future__ import annotations

from shared.engine import clock, identity
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import CONFLICTS, db, increment
from shared.media.affiliates.attribution import token_code
from shared.media.affiliates.fingerprints import same_payer
from shared.media.affiliates.models import BINDINGS, COMMISSION_WINDOW, Binding, Profile
from shared.media.affiliates.profiles import profile_ref, resolve

GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}


def mailbox(email: str) -> str:
    """The mailbox an address delivers to: lower case, no `+tag`; for Gmail also no dots
    and googlemail.com as gmail.com."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def same_mailbox(account_id: str, other_account_id: str) -> bool:
    if account_id == other_account_id:
        return True
    try:
        first = identity.get_account(account_id).email
        second = identity.get_account(other_account_id).email
    except AppError:
        return False
    return mailbox(first) == mailbox(second)


def _refuse_self(*, account_id: str, affiliate: Profile) -> None:
    if same_mailbox(account_id, affiliate.account_id) or same_payer(
        account_id, affiliate.account_id
    ):
        raise AppError(ErrorKind.INVALID, "you cannot refer yourself", {"code": "self_referral"})


def _bind(*, account_id: str, affiliate: Profile, source: str) -> tuple[Binding, bool]:
    """Bind the account to the affiliate unless it is bound already: (binding, created)."""
    _refuse_self(account_id=account_id, affiliate=affiliate)
    now = clock.now()
    binding = Binding(
        account_id=account_id,
        affiliate_account_id=affiliate.account_id,
        code=affiliate.code,
        source=source,
        bound_at=now,
        commission_until=now + COMMISSION_WINDOW,
    )
    ref = db().collection(BINDINGS).document(account_id)
    batch = db().batch()
    batch.create(ref, binding.model_dump(exclude={"account_id"}))
    batch.set(profile_ref(affiliate.account_id), {"referred_count": increment(1)}, merge=True)
    try:
        batch.commit()
    except CONFLICTS:
        return Binding(account_id=account_id, **ref.get().to_dict()), False
    return binding, True


def bind_code(
    *, account_id: str, code: str, capture_token: str | None, cookie_token: str | None
) -> tuple[Binding, bool]:
    """Bind the caller to a code's affiliate. An explicit capture token, else the
    attribution cookie when present, must be genuine and name the same code."""
    affiliate = resolve(code)
    if affiliate is None:
        raise AppError(
            ErrorKind.INVALID, "unknown affiliate code", {"code": "invalid_affiliate_code"}
        )
    token = capture_token if capture_token is not None else cookie_token
    if token is not None and token_code(token) != affiliate.code:
        raise AppError(
            ErrorKind.INVALID,
            "capture token is invalid, expired or names another code",
            {"code": "invalid_capture_token"},
        )
    binding, created = _bind(account_id=account_id, affiliate=affiliate, source="bind_code")
    if binding.affiliate_account_id != affiliate.account_id:
        raise AppError(
            ErrorKind.CONFLICT,
            "this account is already bound to another affiliate code",
            {"code": "already_bound"},
        )
    return binding, created


def purchase_referrer(*, account_id: str, code: str | None) -> Profile | None:
    """Check a purchase's `affiliateCode` before the purchase: None without one, INVALID
    for an unknown code or a self-referral. Binds nothing."""
    if not code:
        return None
    affiliate = resolve(code)
    if affiliate is None:
        raise AppError(
            ErrorKind.INVALID, "unknown affiliate code", {"code": "invalid_affiliate_code"}
        )
    _refuse_self(account_id=account_id, affiliate=affiliate)
    return affiliate


def bind_for_purchase(*, account_id: str, affiliate: Profile | None) -> None:
    """Bind after the purchase request that carried the code succeeded; the first binding
    wins, silently."""
    if affiliate is not None:
        _bind(account_id=account_id, affiliate=affiliate, source="purchase")
