"""Binding a referred account to its affiliate, once.

Invariants: an account is bound at most once: `affiliate_bindings/<account>` is a create(),
so the first binding (bind-code, or the `affiliateCode` of a checkout or x402 purchase) wins
and a later one reads back the existing binding instead; the affiliate's `referred_count`
moves in that same batch, so it counts bindings exactly; nobody refers themself; a binding
opens a commission window of COMMISSION_WINDOW (365 days) from the moment it is made and is
never changed afterwards.
"""

from __future__ import annotations

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import CONFLICTS, db, increment
from shared.media.affiliates.attribution import token_code
from shared.media.affiliates.models import BINDINGS, COMMISSION_WINDOW, Binding, Profile
from shared.media.affiliates.profiles import profile_ref, resolve


def _bind(*, account_id: str, affiliate: Profile, source: str) -> tuple[Binding, bool]:
    """Bind the account to the affiliate unless it is bound already: (binding, created)."""
    if affiliate.account_id == account_id:
        raise AppError(ErrorKind.INVALID, "you cannot refer yourself", {"code": "self_referral"})
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


def bind_for_purchase(*, account_id: str, code: str | None) -> None:
    """Bind before a purchase that carried `affiliateCode`; first binding wins, silently."""
    if not code:
        return
    affiliate = resolve(code)
    if affiliate is None:
        raise AppError(
            ErrorKind.INVALID, "unknown affiliate code", {"code": "invalid_affiliate_code"}
        )
    _bind(account_id=account_id, affiliate=affiliate, source="purchase")
