"""Payouts: eligibility, the dashboard, requesting a payout and marking it paid.

Invariants: money leaves the affiliate ledger account only by the payout debit, committed
in the batch that creates the request and the open-request guard
`affiliate_open_requests/<id>` (a create()), so an affiliate never has two requests open and
of two concurrent requests at most one exists; a request takes everything available (the
earnings less the commissions still held in their refund window), and
only when the affiliate is active, has a payout address, has at least PAYOUT_MINIMUM_MICROS
available and has no request open. mark_paid() moves a request to `paid` once (a
precondition on the request's update time), copies it into payouts history, deletes the
guard and moves `requested_micros` to `paid_micros` in one batch, so earned = available +
requested + paid + clawed back.
"""

from __future__ import annotations

from typing import Any

from shared import earnings as earnings_rule
from shared.engine import clock, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.ledger import EntryKind
from shared.engine.store import CONFLICTS, db, increment
from shared.media.affiliates.commissions import held_micros
from shared.media.affiliates.models import (
    OPEN_REQUESTS,
    PAYOUT_MINIMUM_MICROS,
    PAYOUT_REQUESTS,
    PAYOUTS,
    Dashboard,
    PayoutRequest,
    PayoutStatus,
    Profile,
    Reason,
    Status,
)
from shared.media.affiliates.profiles import get_profile, newest, profile_ref


def _open_ref(account_id: str) -> Any:
    return db().collection(OPEN_REQUESTS).document(account_id)


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
    earnings = ledger.balance(ledger.earnings_account(account_id)).available_micros
    held = min(max(0, earnings), held_micros(account_id))
    # What any payout may take: also less grid earnings still settling (one rule for all).
    available = earnings_rule.payable_micros(account_id)
    return Dashboard(
        profile=profile,
        available_micros=available,
        held_micros=held,
        reasons=_reasons(profile, available),
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
            profile_ref(account_id).collection(PAYOUT_REQUESTS).document(request.id),
            request.model_dump(exclude={"id"}),
        )
        batch.create(_open_ref(account_id), {"request_id": request.id})
        batch.set(
            profile_ref(account_id),
            {
                "payout_request_count": increment(1),
                "requested_micros": increment(request.amount_micros),
            },
            merge=True,
        )

    try:
        applied = ledger.debit(
            account_id=ledger.earnings_account(account_id),
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
    snaps = newest(
        profile_ref(account_id).collection(PAYOUT_REQUESTS), field="created_at", limit=limit
    )
    return [PayoutRequest(id=s.id, **s.to_dict()) for s in snaps], state


def list_payouts(*, account_id: str, limit: int) -> list[PayoutRequest]:
    get_profile(account_id)
    snaps = newest(profile_ref(account_id).collection(PAYOUTS), field="paid_at", limit=limit)
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
    ref = profile_ref(affiliate).collection(PAYOUT_REQUESTS).document(request_id)
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
        profile_ref(affiliate).collection(PAYOUTS).document(request_id),
        request.model_dump(exclude={"id"}),
    )
    batch.delete(_open_ref(affiliate))
    batch.set(
        profile_ref(affiliate),
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
