"""Developer profiles: one per Relay account, created once, then edited by its owner.

Invariants: a profile is `market_developers/<account id>`, created with a Firestore
create(), so of any number of registrations (retried or racing) exactly one succeeds and
every other answers ERR_1005. Its email is the account's, never a client's claim: a body
email that differs is refused (ERR_2001). Edits only touch a profile that exists
(ERR_1004 otherwise, the code every studio service uses through `require`). The figures
`/auth/me` shows are read, never stored: total earnings are the creator-earning entries of
the account's earnings ledger (memo `market:<tars model id>`), the pending payout is what
the account's pending or processing payouts hold, in whole credits.
"""

from __future__ import annotations

from typing import Annotated, Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from pydantic.alias_generators import to_camel

from shared.engine import clock, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.market import records
from shared.market.fields import WebUrl

MEMO_PREFIX = "market:"  # creator earnings carry memo `market:<tars model id>`
OPEN_PAYOUTS = (records.PayoutStatus.PENDING, records.PayoutStatus.PROCESSING)
DisplayName = Annotated[str, Field(min_length=1, max_length=100)]
Bio = Annotated[str, Field(max_length=2000)]
AvatarUrl = WebUrl
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]  # ISO 3166-1 alpha-2, upper case


class _Body(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, str_strip_whitespace=True
    )


class DeveloperCreate(_Body):
    email: EmailStr
    display_name: DisplayName


class ProfileUpdate(_Body):
    """Partial: a field left out is kept; `bio` and `avatarUrl` may be null to clear."""

    display_name: DisplayName | None = None
    bio: Bio | None = None
    avatar_url: AvatarUrl | None = None


class ProfileCompletion(_Body):
    display_name: DisplayName
    bio: Bio | None = None
    payout_email: EmailStr
    country: Country


def not_registered() -> AppError:
    return AppError(
        ErrorKind.NOT_FOUND, "Developer not found: register first", {"code": "ERR_1004"}
    )


def _ref(account_id: str) -> Any:
    return db().collection(records.DEVELOPERS).document(account_id)


def _record(snap: Any) -> records.Developer:
    return records.Developer.model_validate({**snap.to_dict(), "id": snap.id})


def get(account_id: str) -> records.Developer | None:
    snap = _ref(account_id).get()
    return _record(snap) if snap.exists else None


def require(account_id: str) -> records.Developer:
    """The caller's developer profile, or ERR_1004 (every studio route needs one)."""
    developer = get(account_id)
    if developer is None:
        raise not_registered()
    return developer


def register(
    *,
    account_id: str,
    account_email: str | None,
    firebase_uid: str | None,
    request: DeveloperCreate,
) -> records.Developer:
    if account_email is not None and account_email.lower() != str(request.email).lower():
        raise AppError(
            ErrorKind.INVALID,
            "email must be the signed-in account's email",
            {"code": "ERR_2001", "fields": [{"field": "email", "message": "does not match"}]},
        )
    now = clock.now()
    developer = records.Developer(
        id=account_id,
        firebase_uid=firebase_uid,
        email=account_email or str(request.email),
        display_name=request.display_name,
        created_at=now,
        updated_at=now,
    )
    try:
        _ref(account_id).create(developer.model_dump(mode="python", exclude={"id"}))
    except gexc.AlreadyExists:
        raise AppError(
            ErrorKind.CONFLICT, "Developer already registered", {"code": "ERR_1005"}
        ) from None
    return developer


def _apply(account_id: str, changes: dict[str, Any]) -> records.Developer:
    """Write `changes` to an existing profile (ERR_1004 when there is none) and return it."""
    changes = {**changes, "updated_at": clock.now()}
    try:
        _ref(account_id).update(changes)
    except gexc.NotFound:
        raise not_registered() from None
    return require(account_id)


def update_profile(*, account_id: str, request: ProfileUpdate) -> records.Developer:
    changes = request.model_dump(exclude_unset=True)
    if "display_name" in changes and changes["display_name"] is None:
        raise AppError(ErrorKind.INVALID, "displayName cannot be null", {"code": "ERR_2001"})
    return _apply(account_id, changes)


def complete_profile(*, account_id: str, request: ProfileCompletion) -> records.Developer:
    changes = request.model_dump(exclude_unset=True)
    changes["payout_email"] = str(request.payout_email)
    return _apply(account_id, {**changes, "profile_complete": True})


# --- figures -----------------------------------------------------------------------------


def total_earnings_credits(account_id: str) -> int:
    """Whole credits the account earned as a creator (its market earning entries)."""
    micros = sum(
        int(entry.get("balance_delta_micros", 0))
        for entry in ledger.entries(ledger.earnings_account(account_id))
        if entry.get("kind") == str(ledger.EntryKind.EARNING)
        and str(entry.get("memo", "")).startswith(MEMO_PREFIX)
    )
    return micros // records.CREDIT_MICROS


def pending_payout_credits(account_id: str) -> int:
    query = (
        db().collection(records.PAYOUTS).where(filter=FieldFilter("account_id", "==", account_id))
    )
    payouts = (snap.to_dict() or {} for snap in query.stream())
    return sum(
        int(p.get("amount_credits") or 0) for p in payouts if p.get("status") in OPEN_PAYOUTS
    )


def notebook_count(account_id: str) -> int:
    query = (
        db()
        .collection(records.NOTEBOOKS)
        .where(filter=FieldFilter("developer_id", "==", account_id))
        .select([])
    )
    return sum(1 for _ in query.stream())


# --- public shapes -----------------------------------------------------------------------


def render(developer: records.Developer) -> dict[str, Any]:
    return {
        "id": developer.id,
        "firebaseUid": developer.firebase_uid,
        "email": developer.email,
        "displayName": developer.display_name,
        "avatarUrl": developer.avatar_url,
        "bio": developer.bio,
        "stripeAccountId": developer.stripe_account_id,
        "verified": developer.verified,
        "profileComplete": developer.profile_complete,
        "createdAt": records.iso(developer.created_at),
        "updatedAt": records.iso(developer.updated_at),
    }


def me(account_id: str) -> dict[str, Any]:
    """`GET /auth/me`: the profile with its figures (ERR_1004 when not registered)."""
    developer = require(account_id)
    shape = render(developer)
    figures = {
        "totalEarnings": total_earnings_credits(account_id),
        "pendingPayout": pending_payout_credits(account_id),
        "notebookCount": notebook_count(account_id),
    }
    # The document lists the figures before the timestamps.
    stamps = {k: shape.pop(k) for k in ("createdAt", "updatedAt")}
    return {**shape, **figures, **stamps}


def render_profile(developer: records.Developer) -> dict[str, Any]:
    """`PUT /auth/profile`: the fields the document returns."""
    return {
        "id": developer.id,
        "displayName": developer.display_name,
        "bio": developer.bio,
        "avatarUrl": developer.avatar_url,
        "profileComplete": developer.profile_complete,
        "updatedAt": records.iso(developer.updated_at),
    }


def render_completion(developer: records.Developer) -> dict[str, Any]:
    return {
        "id": developer.id,
        "profileComplete": developer.profile_complete,
        "updatedAt": records.iso(developer.updated_at),
    }
