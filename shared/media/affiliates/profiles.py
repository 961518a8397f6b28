"""Affiliate profiles and their codes: apply, update, look up, resolve a code.

Invariants: a code names one affiliate: `affiliate_codes/<CODE>` and `affiliates/<account>`
are both create()s in one batch, so a profile never exists without its code nor a code
without its profile, and an account applies at most once; codes are drawn from
CODE_ALPHABET (no look-alikes) and compared in their canonical uppercase form, so they are
case-insensitive; only an active affiliate's code resolves. Updating a profile never
changes its code, status or counters.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.store import CONFLICTS, db
from shared.media.affiliates.models import (
    AFFILIATES,
    CODE_ALPHABET,
    CODE_LENGTH,
    CODES,
    Profile,
    Status,
)

_CODE_SHAPE = re.compile(r"[A-Z0-9]{4,32}")


def normal_code(code: str) -> str | None:
    """The canonical form of a code, or None when it cannot be one of ours."""
    upper = code.strip().upper()
    return upper if _CODE_SHAPE.fullmatch(upper) else None


def referral_url(code: str) -> str:
    return f"{get_settings().media_public_url.rstrip('/')}/api/v1/affiliates/r?code={code}"


def landing_url(code: str) -> str:
    return f"{get_settings().media_public_url.rstrip('/')}/?ref={code}"


def profile_ref(account_id: str) -> Any:
    """The affiliate's profile document (its subcollections hold commissions and payouts)."""
    return db().collection(AFFILIATES).document(account_id)


def newest(collection: Any, *, field: str, limit: int) -> list[Any]:
    """The `limit` documents of `collection` with the greatest `field`, newest first."""
    from google.cloud import firestore

    query = collection.order_by(field, direction=firestore.Query.DESCENDING).limit(limit)
    return list(query.stream())


def find_profile(account_id: str) -> Profile | None:
    snap = profile_ref(account_id).get()
    return Profile(account_id=snap.id, **snap.to_dict()) if snap.exists else None


def get_profile(account_id: str) -> Profile:
    profile = find_profile(account_id)
    if profile is None:
        raise AppError(
            ErrorKind.NOT_FOUND, "this account is not an affiliate", {"code": "not_an_affiliate"}
        )
    return profile


def resolve(code: str) -> Profile | None:
    """The active affiliate behind a code, if any."""
    normal = normal_code(code)
    if normal is None:
        return None
    snap = db().collection(CODES).document(normal).get()
    if not snap.exists:
        return None
    profile = find_profile(snap.get("account_id"))
    return profile if profile is not None and profile.status is Status.ACTIVE else None


def known(code: str) -> Profile:
    """The active affiliate behind a code; unknown_affiliate_code (not found) otherwise."""
    profile = resolve(code)
    if profile is None:
        raise AppError(
            ErrorKind.NOT_FOUND, "unknown affiliate code", {"code": "unknown_affiliate_code"}
        )
    return profile


def validate_code(code: str) -> tuple[str, bool]:
    """(the code as we spell it, whether it names an active affiliate)."""
    return (normal_code(code) or code.strip().upper()), resolve(code) is not None


def apply(
    *,
    account_id: str,
    display_name: str,
    contact_email: str,
    country_code: str | None,
    payout_address: str | None,
    terms_version: str | None,
) -> Profile:
    """Make the account an affiliate, auto-approved, with a fresh unique code."""
    conflict = AppError(
        ErrorKind.CONFLICT, "this account is already an affiliate", {"code": "already_affiliate"}
    )
    if find_profile(account_id) is not None:
        raise conflict
    for _ in range(8):
        now = clock.now()
        profile = Profile(
            account_id=account_id,
            code="".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)),
            status=Status.ACTIVE,
            display_name=display_name,
            contact_email=contact_email,
            country_code=country_code.upper() if country_code else None,
            payout_address=payout_address,
            terms_version=terms_version,
            created_at=now,
            updated_at=now,
        )
        batch = db().batch()
        batch.create(
            db().collection(CODES).document(profile.code),
            {"account_id": account_id, "created_at": now},
        )
        batch.create(profile_ref(account_id), profile.model_dump(exclude={"account_id"}))
        try:
            batch.commit()
            return profile
        except CONFLICTS:
            if find_profile(account_id) is not None:
                raise conflict from None
            # else the code was taken: draw another
    raise AppError(ErrorKind.UNAVAILABLE, "could not allocate an affiliate code; retry")


def update(
    *,
    account_id: str,
    display_name: str | None = None,
    contact_email: str | None = None,
    country_code: str | None = None,
    payout_address: str | None = None,
) -> Profile:
    """Change the given fields (None leaves a field as it is)."""
    fields: dict[str, Any] = {
        k: v
        for k, v in (
            ("display_name", display_name),
            ("contact_email", contact_email),
            ("country_code", country_code.upper() if country_code else None),
            ("payout_address", payout_address),
        )
        if v is not None
    }
    try:
        profile_ref(account_id).update({**fields, "updated_at": clock.now()})
    except CONFLICTS:
        get_profile(account_id)  # raises not_an_affiliate
        raise
    return get_profile(account_id)
