"""Commissions on referred top-ups, and taking them back after a refund or dispute.

Invariants: a top-up pays commission at most once: its ledger credit `commission:<top-up
ref>` on `ledger.earnings_account(<id>)` and the record `affiliates/<id>/commissions/<top-
up ref>` are create()s added to the top-up's own batch, whose `topup:<ref>` create already
makes it exactly-once, and the profile's `commission_count` / `earned_micros` move in that
batch; it is COMMISSION_RATE_BPS of the deposit, integer floor, and only inside the
binding's window. A commission is held (status `held`, `payable_at`) for the top-up's
refund window, settings.media_commission_hold_days, and only then counts as available for
a payout (held_micros()), so a refund or dispute inside the window is taken back from money
that has not left. A take-back is at most the commission, in proportion to what left the
top-up (commission x taken / deposit), applied once per take-back ref through
recoveries.recover(), which never debits more than is available and records the rest as
`unrecovered_micros`.
A referred account that shares a payer with its affiliate (fingerprints.same_payer(): the
same card or wallet, the top-up being settled included) earns nothing: the top-up's batch
then records the commission as `self_referral` (0 micros, `withheld_micros` what it would
have been; no ledger entry) and flags the binding `self_referral`, which withholds every
later commission on it. A match that appears only later (the affiliate pays with a card the
referred account used before) is found after that payment's settlement
(withhold_found_later(), idempotent): the binding is flagged and each commission already
earned on it is taken back in full (what is left of it after earlier take-backs), once, by
the ledger ref `<top-up ref>:self_referral` through recoveries.recover(), the record turning
`self_referral`; later refunds take nothing more from it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.engine import clock, ledger
from shared.engine.ledger import EntryKind
from shared.engine.settings import get_settings
from shared.engine.store import db, increment
from shared.media.affiliates.fingerprints import same_payer
from shared.media.affiliates.models import (
    BINDINGS,
    COMMISSION_RATE_BPS,
    COMMISSIONS,
    FINGERPRINTS,
    Binding,
    Commission,
)
from shared.media.affiliates.profiles import get_profile, newest, profile_ref
from shared.media.recoveries import recover, reinstate

HELD = "held"
AVAILABLE = "available"
SELF_REFERRAL = "self_referral"


def held_micros(account_id: str) -> int:
    """What the affiliate's commissions still inside their refund window hold back."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        profile_ref(account_id)
        .collection(COMMISSIONS)
        .where(filter=FieldFilter("payable_at", ">", clock.now()))
    )
    held = 0
    for snap in query.stream():
        data = snap.to_dict()
        held += max(0, int(data["commission_micros"]) - int(data.get("recovered_micros", 0)))
    return held


def _public(commission: Commission) -> Commission:
    """The status as of now: a held commission past its payable_at is available."""
    if commission.status == HELD and (
        commission.payable_at is None or commission.payable_at <= clock.now()
    ):
        return commission.model_copy(update={"status": AVAILABLE})
    return commission


def commission_writes(
    batch: Any,
    *,
    referred_account_id: str,
    topup_ref: str,
    deposit_micros: int,
    fingerprint_key: str | None = None,
) -> None:
    """Add the referrer's commission on a top-up to the top-up's own batch (nothing when
    the account is not referred or the window has closed; withheld for a self-referral).
    `fingerprint_key`: the top-up's payment fingerprint (fingerprints.fingerprint_id())."""
    binding_ref = db().collection(BINDINGS).document(referred_account_id)
    snap = binding_ref.get()
    if not snap.exists:
        return
    binding = Binding(account_id=referred_account_id, **snap.to_dict())
    now = clock.now()
    commission = deposit_micros * COMMISSION_RATE_BPS // 10_000
    if now >= binding.commission_until or commission <= 0:
        return
    affiliate = binding.affiliate_account_id
    record = profile_ref(affiliate).collection(COMMISSIONS).document(topup_ref)
    if binding.self_referral or same_payer(referred_account_id, affiliate, fingerprint_key):
        batch.create(
            record,
            {
                "affiliate_account_id": affiliate,
                "referred_account_id": referred_account_id,
                "deposit_micros": deposit_micros,
                "commission_micros": 0,
                "withheld_micros": commission,
                "rate_bps": COMMISSION_RATE_BPS,
                "status": SELF_REFERRAL,
                "created_at": now,
                "payable_at": now,
            },
        )
        batch.set(
            binding_ref,
            {"self_referral": True, "flagged_at": now, "flag_reason": "payment_fingerprint"},
            merge=True,
        )
        return
    hold = dt.timedelta(days=get_settings().media_commission_hold_days)
    ledger.credit_writes(
        batch,
        account_id=ledger.earnings_account(affiliate),
        kind=EntryKind.COMMISSION,
        ref=topup_ref,
        micros=commission,
        memo=f"affiliate commission on top-up {topup_ref}",
    )
    batch.create(
        record,
        {
            "affiliate_account_id": affiliate,
            "referred_account_id": referred_account_id,
            "deposit_micros": deposit_micros,
            "commission_micros": commission,
            "rate_bps": COMMISSION_RATE_BPS,
            "status": HELD if hold else AVAILABLE,
            "created_at": now,
            "payable_at": now + hold,
        },
    )
    batch.set(
        profile_ref(affiliate),
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
    record = profile_ref(affiliate).collection(COMMISSIONS).document(topup_ref)
    snap = record.get()
    if not snap.exists:
        return "no commission"
    data = snap.to_dict()
    if data.get("status") == SELF_REFERRAL:
        return "nothing to take back"  # withheld, or taken back in full already
    micros = min(
        int(data["commission_micros"]),
        int(data["commission_micros"]) * taken_micros // max(1, int(data["deposit_micros"])),
    )
    if micros <= 0:
        return "nothing to take back"

    def count(batch: Any, taken: int) -> None:
        batch.set(profile_ref(affiliate), {"clawed_back_micros": increment(taken)}, merge=True)

    return recover(
        account_id=ledger.earnings_account(affiliate),
        record=record,
        kind=kind,
        ref=f"{ref}:commission",
        micros=micros,
        extra=count,
    )


def withhold_found_later(*, account_id: str, fingerprint_key: str) -> int:
    """After a payment of `account_id` by payer `fingerprint_key` is recorded: flag each
    binding between it and another account of that payer, and take back the commissions
    already earned on it. Idempotent; returns how many commissions it took back now."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    payer = db().collection(FINGERPRINTS).document(fingerprint_key).get()
    others = (
        {a for a in (payer.get("account_ids") or []) if a != account_id} if payer.exists else set()
    )
    if not others:
        return 0
    # Every binding that could pair the two (each of them referred by the other) in one
    # read: a payer shared by many accounts costs one round trip, not two per account.
    bindings = db().collection(BINDINGS)
    pairs = []
    for binding in db().get_all([bindings.document(a) for a in sorted(others | {account_id})]):
        if not binding.exists:
            continue
        referred, affiliate = binding.id, binding.get("affiliate_account_id")
        if (referred == account_id and affiliate in others) or (
            referred in others and affiliate == account_id
        ):
            pairs.append((referred, affiliate, binding))
    voided = 0
    for referred, affiliate, binding in pairs:
        if not binding.to_dict().get("self_referral"):
            binding.reference.set(
                {
                    "self_referral": True,
                    "flagged_at": clock.now(),
                    "flag_reason": "payment_fingerprint",
                },
                merge=True,
            )
        earned = (
            profile_ref(affiliate)
            .collection(COMMISSIONS)
            .where(filter=FieldFilter("referred_account_id", "==", referred))
        )
        for snap in earned.stream():
            voided += _take_back_all(affiliate, snap)
    return voided


def _take_back_all(affiliate: str, snap: Any) -> int:
    data = snap.to_dict()
    if data.get("status") == SELF_REFERRAL:
        return 0
    left = (
        int(data["commission_micros"])
        - int(data.get("recovered_micros", 0))
        - int(data.get("unrecovered_micros", 0))
    )

    def mark(batch: Any, taken: int) -> None:
        batch.set(snap.reference, {"status": SELF_REFERRAL, "withheld_micros": left}, merge=True)
        batch.set(profile_ref(affiliate), {"clawed_back_micros": increment(taken)}, merge=True)

    if left <= 0:
        snap.reference.set({"status": SELF_REFERRAL}, merge=True)
        return 0
    outcome = recover(
        account_id=ledger.earnings_account(affiliate),
        record=snap.reference,
        kind=EntryKind.COMMISSION,
        ref=f"{snap.id}:{SELF_REFERRAL}",
        micros=left,
        extra=mark,
    )
    return 0 if outcome == "already applied" else 1


def reinstate_commission(
    *, referred_account_id: str, topup_ref: str, kind: EntryKind, ref: str
) -> str:
    """Give back the commission share that take-back `<kind>:<ref>` clawed back (a dispute
    won), once."""
    binding = db().collection(BINDINGS).document(referred_account_id).get()
    if not binding.exists:
        return "no commission"
    affiliate = str(binding.get("affiliate_account_id"))

    def count(batch: Any, given_back: int) -> None:
        batch.set(
            profile_ref(affiliate), {"clawed_back_micros": increment(-given_back)}, merge=True
        )

    return reinstate(
        account_id=ledger.earnings_account(affiliate),
        record=profile_ref(affiliate).collection(COMMISSIONS).document(topup_ref),
        kind=kind,
        ref=f"{ref}:commission",
        extra=count,
    )


def list_commissions(*, account_id: str, limit: int) -> list[Commission]:
    get_profile(account_id)
    snaps = newest(profile_ref(account_id).collection(COMMISSIONS), field="created_at", limit=limit)
    return [_public(Commission(id=s.id, **s.to_dict())) for s in snaps]
