"""The Killa Tamata affiliate programme: codes, attribution, commissions and payouts.

Rules: applying makes the caller an affiliate at once (status `active`) with an 8-character
code (uppercase letters and digits without look-alikes); codes are case-insensitive. A
referred account is bound to one affiliate, once: the first binding (bind-code, or the
`affiliateCode` of a checkout or x402 purchase) wins, and nobody refers themself. For 365
days after binding, every settled top-up of the referred account pays the affiliate 10%
(1000 bps, integer floor of the micros) into the affiliate ledger account
`affiliate:<account id>`, apart from their spending balance, available at once. A refund or
lost dispute of the top-up takes back the same share of its commission (commission x taken
/ deposit) from what the affiliate has available; what was already paid out is recorded on
the commission as `unrecovered_micros`. An affiliate may request a
payout of everything available once they are active, have a payout address, have at least
$10 available and no request open; an operator marks it paid (`relay affiliates pay`).
Invariants: a code names one affiliate (`affiliate_codes/<CODE>` is created in the batch
that creates the profile); an account is bound at most once (`affiliate_bindings/<account>`
by create()); a top-up pays commission at most once (its ledger credit
`commission:<top-up ref>` and the record `affiliates/<id>/commissions/<top-up ref>` are
creates in the top-up's own batch, whose `topup:<ref>` create already makes it
exactly-once); money leaves the affiliate ledger only by the payout debit committed in the
batch that creates the request and the open-request guard `affiliate_open_requests/<id>`,
so an affiliate never has two requests open and earned = available + requested + paid +
clawed back.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from shared import clock, ledger
from shared.errors import AppError, ErrorKind
from shared.ledger import EntryKind
from shared.media.recoveries import recover
from shared.settings import get_settings
from shared.store import CONFLICTS, db, increment

AFFILIATES = "affiliates"
CODES = "affiliate_codes"
BINDINGS = "affiliate_bindings"
OPEN_REQUESTS = "affiliate_open_requests"
COMMISSIONS = "commissions"  # subcollection of an affiliate
PAYOUT_REQUESTS = "payout_requests"  # subcollection of an affiliate
PAYOUTS = "payouts"  # subcollection of an affiliate

COMMISSION_RATE_BPS = 1000
COMMISSION_WINDOW = dt.timedelta(days=365)
PAYOUT_MINIMUM_MICROS = 10_000_000
ATTRIBUTION_COOKIE = "kt_aff"
ATTRIBUTION_TTL = dt.timedelta(days=30)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no I, L, O, 0, 1
CODE_LENGTH = 8
_CODE_SHAPE = re.compile(r"[A-Z0-9]{4,32}")


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


class Commission(BaseModel):
    id: str  # the top-up's ledger ref
    affiliate_account_id: str
    deposit_micros: int
    commission_micros: int
    rate_bps: int
    status: str
    created_at: dt.datetime
    recovered_micros: int = 0  # taken back after a refund or dispute of the top-up


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
    available_micros: int
    reasons: list[Reason]


def ledger_account(affiliate_id: str) -> str:
    """The ledger account holding an affiliate's commissions (not their spending money)."""
    return f"affiliate:{affiliate_id}"


def normal_code(code: str) -> str | None:
    """The canonical form of a code, or None when it cannot be one of ours."""
    upper = code.strip().upper()
    return upper if _CODE_SHAPE.fullmatch(upper) else None


def referral_url(code: str) -> str:
    return f"{get_settings().media_public_url.rstrip('/')}/api/v1/affiliates/r?code={code}"


def landing_url(code: str) -> str:
    return f"{get_settings().media_public_url.rstrip('/')}/?ref={code}"


def _profile_ref(account_id: str) -> Any:
    return db().collection(AFFILIATES).document(account_id)


def _open_ref(account_id: str) -> Any:
    return db().collection(OPEN_REQUESTS).document(account_id)


def find_profile(account_id: str) -> Profile | None:
    snap = _profile_ref(account_id).get()
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


def _known(code: str) -> Profile:
    profile = resolve(code)
    if profile is None:
        raise AppError(
            ErrorKind.NOT_FOUND, "unknown affiliate code", {"code": "unknown_affiliate_code"}
        )
    return profile


# --- profile ---------------------------------------------------------------------------


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
        batch.create(_profile_ref(account_id), profile.model_dump(exclude={"account_id"}))
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
        _profile_ref(account_id).update({**fields, "updated_at": clock.now()})
    except CONFLICTS:
        get_profile(account_id)  # raises not_an_affiliate
        raise
    return get_profile(account_id)


# --- attribution -----------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(body: str) -> str:
    key = get_settings().media_token_key.encode()
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def validate_code(code: str) -> tuple[str, bool]:
    """(the code as we spell it, whether it names an active affiliate)."""
    return (normal_code(code) or code.strip().upper()), resolve(code) is not None


def capture(code: str) -> Capture:
    """A signed attribution token for a known code: {code, iat, exp} under HMAC-SHA256."""
    profile = _known(code)
    now = clock.now()
    expires = now + ATTRIBUTION_TTL
    payload = {"code": profile.code, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return Capture(code=profile.code, token=f"{body}.{_sign(body)}", expires_at=expires)


def token_code(token: str) -> str | None:
    """The code a genuine, unexpired attribution token names; None for anything else."""
    body, _, signature = token.partition(".")
    if not body or not hmac.compare_digest(signature.encode(), _sign(body).encode()):
        return None
    try:
        payload = json.loads(_unb64(body))
        code, exp = str(payload["code"]), int(payload["exp"])
    except (ValueError, KeyError, TypeError):
        return None
    return code if exp > clock.now().timestamp() else None


# --- binding ---------------------------------------------------------------------------


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
    batch.set(_profile_ref(affiliate.account_id), {"referred_count": increment(1)}, merge=True)
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


# --- commissions -----------------------------------------------------------------------


def commission_writes(
    batch: Any, *, referred_account_id: str, topup_ref: str, deposit_micros: int
) -> None:
    """Add the referrer's commission on a top-up to the top-up's own batch (nothing when
    the account is not referred or the window has closed)."""
    snap = db().collection(BINDINGS).document(referred_account_id).get()
    if not snap.exists:
        return
    binding = Binding(account_id=referred_account_id, **snap.to_dict())
    now = clock.now()
    commission = deposit_micros * COMMISSION_RATE_BPS // 10_000
    if now >= binding.commission_until or commission <= 0:
        return
    affiliate = binding.affiliate_account_id
    ledger.credit_writes(
        batch,
        account_id=ledger_account(affiliate),
        kind=EntryKind.COMMISSION,
        ref=topup_ref,
        micros=commission,
        memo=f"affiliate commission on top-up {topup_ref}",
    )
    batch.create(
        _profile_ref(affiliate).collection(COMMISSIONS).document(topup_ref),
        {
            "affiliate_account_id": affiliate,
            "referred_account_id": referred_account_id,
            "deposit_micros": deposit_micros,
            "commission_micros": commission,
            "rate_bps": COMMISSION_RATE_BPS,
            "status": "available",
            "created_at": now,
        },
    )
    batch.set(
        _profile_ref(affiliate),
        {"commission_count": increment(1), "earned_micros": increment(commission)},
        merge=True,
    )


def clawback(
    *, referred_account_id: str, topup_ref: str, taken_micros: int, kind: EntryKind, ref: str
) -> str:
    """Take back the share of a top-up's commission that a refund or dispute (`kind`,
    `ref`: the take-back's own ledger ref) removed from the top-up. Idempotent by `ref`."""
    binding = db().collection(BINDINGS).document(referred_account_id).get()
    if not binding.exists:
        return "no commission"
    affiliate = str(binding.get("affiliate_account_id"))
    record = _profile_ref(affiliate).collection(COMMISSIONS).document(topup_ref)
    snap = record.get()
    if not snap.exists:
        return "no commission"
    data = snap.to_dict()
    micros = min(
        int(data["commission_micros"]),
        int(data["commission_micros"]) * taken_micros // max(1, int(data["deposit_micros"])),
    )
    if micros <= 0:
        return "nothing to take back"

    def count(batch: Any, taken: int) -> None:
        batch.set(_profile_ref(affiliate), {"clawed_back_micros": increment(taken)}, merge=True)

    return recover(
        account_id=ledger_account(affiliate),
        record=record,
        kind=kind,
        ref=f"{ref}:commission",
        micros=micros,
        extra=count,
    )


def _newest(collection: Any, *, field: str, limit: int) -> list[Any]:
    from google.cloud import firestore

    query = collection.order_by(field, direction=firestore.Query.DESCENDING).limit(limit)
    return list(query.stream())


def list_commissions(*, account_id: str, limit: int) -> list[Commission]:
    get_profile(account_id)
    snaps = _newest(
        _profile_ref(account_id).collection(COMMISSIONS), field="created_at", limit=limit
    )
    return [Commission(id=s.id, **s.to_dict()) for s in snaps]


# --- payouts ---------------------------------------------------------------------------


def _reasons(profile: Profile, available_micros: int) -> list[Reason]:
    reasons = []
    if profile.status is not Status.ACTIVE:
        reasons.append(Reason.NOT_ACTIVE)
    if not profile.payout_address:
        reasons.append(Reason.NO_PAYOUT_ADDRESS)
    if available_micros < PAYOUT_MINIMUM_MICROS:
        reasons.append(Reason.BELOW_MINIMUM)
    if _open_ref(profile.account_id).get().exists:
        reasons.append(Reason.REQUEST_OPEN)
    return reasons


def dashboard(account_id: str) -> Dashboard:
    profile = get_profile(account_id)
    available = ledger.balance(ledger_account(account_id)).available_micros
    return Dashboard(
        profile=profile, available_micros=available, reasons=_reasons(profile, available)
    )


def _not_eligible(reasons: list[Reason]) -> AppError:
    return AppError(
        ErrorKind.CONFLICT,
        f"not eligible for a payout: {', '.join(reasons)}",
        {"code": "not_eligible", "reasons": [str(r) for r in reasons]},
    )


def request_payout(*, account_id: str, note: str | None) -> PayoutRequest:
    """Ask for everything available. The debit, the request and the open-request guard
    are one batch, so of two concurrent requests at most one exists."""
    state = dashboard(account_id)
    if state.reasons:
        raise _not_eligible(state.reasons)
    profile = state.profile
    request = PayoutRequest(
        id=f"{account_id}:{profile.payout_request_count + 1}",
        affiliate_account_id=account_id,
        amount_micros=state.available_micros,
        status=PayoutStatus.REQUESTED,
        note=note,
        payout_address=profile.payout_address,
        created_at=clock.now(),
    )

    def writes(batch: Any) -> None:
        batch.create(
            _profile_ref(account_id).collection(PAYOUT_REQUESTS).document(request.id),
            request.model_dump(exclude={"id"}),
        )
        batch.create(_open_ref(account_id), {"request_id": request.id})
        batch.set(
            _profile_ref(account_id),
            {
                "payout_request_count": increment(1),
                "requested_micros": increment(request.amount_micros),
            },
            merge=True,
        )

    try:
        applied = ledger.debit(
            account_id=ledger_account(account_id),
            kind=EntryKind.PAYOUT,
            ref=request.id,
            micros=request.amount_micros,
            memo="affiliate payout request",
            extra=writes,
        )
    except AppError as exc:
        if exc.kind is not ErrorKind.INSUFFICIENT_FUNDS:
            raise
        applied = False
    if not applied:  # a concurrent request won
        raise _not_eligible(dashboard(account_id).reasons or [Reason.REQUEST_OPEN])
    return request


def list_payout_requests(*, account_id: str, limit: int) -> tuple[list[PayoutRequest], Dashboard]:
    state = dashboard(account_id)
    snaps = _newest(
        _profile_ref(account_id).collection(PAYOUT_REQUESTS), field="created_at", limit=limit
    )
    return [PayoutRequest(id=s.id, **s.to_dict()) for s in snaps], state


def list_payouts(*, account_id: str, limit: int) -> list[PayoutRequest]:
    get_profile(account_id)
    snaps = _newest(_profile_ref(account_id).collection(PAYOUTS), field="paid_at", limit=limit)
    return [PayoutRequest(id=s.id, **s.to_dict()) for s in snaps]


def mark_paid(*, request_id: str, reference: str) -> PayoutRequest:
    """Operator: the money has been sent. Moves the request into payouts history, once."""
    from google.cloud import firestore

    affiliate, _, _ = request_id.rpartition(":")
    missing = AppError(
        ErrorKind.NOT_FOUND, "no such payout request", {"code": "payout_request_not_found"}
    )
    if not affiliate or "/" in request_id:
        raise missing
    ref = _profile_ref(affiliate).collection(PAYOUT_REQUESTS).document(request_id)
    snap = ref.get()
    if not snap.exists:
        raise missing
    request = PayoutRequest(id=snap.id, **snap.to_dict())
    paid = AppError(ErrorKind.CONFLICT, "payout request already paid", {"code": "already_paid"})
    if request.status is not PayoutStatus.REQUESTED:
        raise paid
    request = request.model_copy(
        update={"status": PayoutStatus.PAID, "paid_at": clock.now(), "reference": reference}
    )
    batch = db().batch()
    batch.update(
        ref,
        {"status": str(request.status), "paid_at": request.paid_at, "reference": reference},
        option=firestore.Client.write_option(last_update_time=snap.update_time),
    )
    batch.create(
        _profile_ref(affiliate).collection(PAYOUTS).document(request_id),
        request.model_dump(exclude={"id"}),
    )
    batch.delete(_open_ref(affiliate))
    batch.set(
        _profile_ref(affiliate),
        {
            "requested_micros": increment(-request.amount_micros),
            "paid_micros": increment(request.amount_micros),
        },
        merge=True,
    )
    try:
        batch.commit()
    except CONFLICTS as exc:
        raise paid from exc
    return request
