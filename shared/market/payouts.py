"""Creator payouts over Stripe Connect: onboarding, requests, and the payout's life after.

Invariants:
- Only earned money is paid out: a payout is ONE `ledger.debit` of the creator's earnings
  account (`ledger.earnings_account`; their prepaid balance never counts), kind PAYOUT, ref
  the payout id, committed in the same batch as the payout record, so a record exists
  exactly when its money has left earnings, and concurrent requests can never overdraw it
  (the debit reserves first; the loser is ERR_4001).
- Money returns to earnings at most once: a PAYOUT_REVERSAL credit with ref the payout id,
  in the same batch as the move to `failed`, written with a precondition on the record's
  update time (and the entry's create fails on a second try), however often Stripe's events
  are delivered or the sweep runs.
- The Stripe transfer is created with idempotency key and transfer group derived from the
  payout id, so a retry (the sweep's, after a network error) never pays twice.
- States: pending (debited, no transfer yet) -> processing (transfer created) -> completed
  (Stripe reported the transfer: the money is in the creator's Stripe balance) ; any of them
  -> failed when Stripe refused the transfer or reversed it in full (the money returns).
  A transition only moves forward from the states listed for it.
- A developer's Stripe account is created once: idempotency key from the account id, and
  the developer record takes it only while it has none (a preconditioned write).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from shared import earnings as earnings_rule
from shared.engine import clock, idempotency, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.ledger import EntryKind
from shared.engine.settings import get_settings
from shared.engine.store import CONFLICTS, commit, db
from shared.market import records
from shared.market.earnings import payouts_of, require_developer
from shared.market.paging import cut, meta
from shared.market.records import PayoutRecord, PayoutStatus
from shared.providers.stripe import client as stripe_client

# Namespace of payout ids derived from a client's Idempotency-Key.
PAYOUT_KEYS = uuid.UUID("0b7f3c52-8e0d-4a8e-9a61-5d2f9e4c7a10")
log = logging.getLogger("relay.market.payouts")

PURPOSE = "market_payout"
ESTIMATED_ARRIVAL = dt.timedelta(days=2)  # Stripe's standard payout delay after a transfer
TRANSITION_TRIES = 8


def _unavailable(exc: Exception) -> AppError:
    log.warning("stripe call failed: %s", type(exc).__name__)
    return AppError(ErrorKind.UNAVAILABLE, "Payment provider unavailable", {"code": "ERR_5002"})


def _state_invalid(message: str) -> AppError:
    return AppError(ErrorKind.INVALID, message, {"code": "ERR_3004"})


def stripe_errors() -> type[Exception]:
    """Every error the Stripe SDK raises (network failures included: APIConnectionError)."""
    import stripe

    return stripe.StripeError


def _definitely_refused(exc: Exception) -> bool:
    """A Stripe answer that the request failed and will fail again (bad request, card or
    permission): not a network error, rate limit, server error or idempotency clash."""
    import stripe

    return isinstance(exc, stripe.InvalidRequestError | stripe.CardError | stripe.PermissionError)


# --- Connect onboarding ------------------------------------------------------------------


def _store_account_id(developer_id: str, stripe_account_id: str) -> str:
    """Record the developer's Stripe account unless one is recorded already; returns the
    recorded one."""
    ref = db().collection(records.DEVELOPERS).document(developer_id)
    for _ in range(TRANSITION_TRIES):
        snap = ref.get()
        current = (snap.to_dict() or {}).get("stripe_account_id")
        if current:
            return str(current)
        try:
            ref.update(
                {"stripe_account_id": stripe_account_id, "updated_at": clock.now()},
                option=db().write_option(last_update_time=snap.update_time),
            )
        except CONFLICTS:
            continue
        return stripe_account_id
    raise AppError(ErrorKind.CONFLICT, "Developer is being updated; retry", {"code": "ERR_3003"})


def connect_stripe(
    *, account_id: str, return_url: str | None, refresh_url: str | None
) -> dict[str, Any]:
    """POST /payouts/connect-stripe: the developer's Express account (created once) and a
    fresh onboarding link for it."""
    developer = require_developer(account_id)
    studio = get_settings().market_studio_url.rstrip("/")
    stripe_account_id = developer.stripe_account_id
    try:
        if not stripe_account_id:
            account = stripe_client().v1.accounts.create(
                params={
                    "type": "express",
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"relay_account_id": account_id, "purpose": PURPOSE},
                },
                options={"idempotency_key": f"market-connect:{account_id}"},
            )
            stripe_account_id = _store_account_id(account_id, account.id)
        link = stripe_client().v1.account_links.create(
            params={
                "account": stripe_account_id,
                "type": "account_onboarding",
                "return_url": return_url or f"{studio}/settings/payouts",
                "refresh_url": refresh_url or f"{studio}/settings/payouts?refresh=true",
            }
        )
    except stripe_errors() as exc:
        raise _unavailable(exc) from exc
    expires = dt.datetime.fromtimestamp(int(link.expires_at), dt.UTC)
    return {"onboardingUrl": link.url, "expiresAt": records.iso(expires)}


def _transfers_active(stripe_account_id: str) -> bool:
    try:
        account = stripe_client().v1.accounts.retrieve(stripe_account_id).to_dict()
    except stripe_errors() as exc:
        if _definitely_refused(exc):
            return False  # the account is gone or not ours
        raise _unavailable(exc) from exc
    return (account.get("capabilities") or {}).get("transfers") == "active"


# --- requests ----------------------------------------------------------------------------


def render(payout: PayoutRecord) -> dict[str, Any]:
    return {
        "id": payout.id,
        "amount": payout.amount_credits,
        "status": str(payout.status),
        "stripeTransferId": payout.stripe_transfer_id,
        "requestedAt": records.iso(payout.requested_at),
        "processedAt": records.iso(payout.processed_at),
    }


def _ref(payout_id: str) -> Any:
    return db().collection(records.PAYOUTS).document(payout_id)


def request_payout(
    *, account_id: str, amount: int, idempotency_key: str | None = None
) -> dict[str, Any]:
    """POST /payouts/request: ERR_4002 below the minimum, ERR_3004 without a Stripe account
    that can receive transfers, ERR_4001 above the earnings available; else the debit and
    the record land together and the transfer is sent (201). With an Idempotency-Key the
    payout id derives from (account, key): a retry answers the first payout and debits
    nothing more; the key with another amount is ERR_3003."""
    payout_id = str(uuid.uuid4())
    if idempotency_key is not None:
        try:
            idempotency.validate_key(idempotency_key)
        except AppError as exc:
            raise AppError(ErrorKind.INVALID, exc.message, {"code": "ERR_2001"}) from None
        payout_id = str(uuid.uuid5(PAYOUT_KEYS, f"{account_id}:{idempotency_key}"))
        replayed = _replay(payout_id=payout_id, amount=amount)
        if replayed is not None:
            return replayed
    developer = require_developer(account_id)
    if amount < records.PAYOUT_MINIMUM_CREDITS:
        raise AppError(
            ErrorKind.INVALID,
            f"Minimum payout is {records.PAYOUT_MINIMUM_CREDITS} credits",
            {"code": "ERR_4002", "minimum": records.PAYOUT_MINIMUM_CREDITS},
        )
    if not developer.stripe_account_id:
        raise _state_invalid("Connect a Stripe account before requesting a payout")
    if not _transfers_active(developer.stripe_account_id):
        raise _state_invalid("Finish Stripe onboarding before requesting a payout")
    if amount * records.CREDIT_MICROS > earnings_rule.payable_micros(account_id):
        # Grid earnings still settling and held affiliate commissions share the account.
        raise AppError(
            ErrorKind.INSUFFICIENT_FUNDS,
            "Insufficient balance: amount is above the earnings available for payout",
            {"code": "ERR_4001"},
        )
    now = clock.now()
    payout = PayoutRecord(
        id=payout_id,
        account_id=account_id,
        amount_credits=amount,
        stripe_account_id=developer.stripe_account_id,
        requested_at=now,
        estimated_arrival=now + ESTIMATED_ARRIVAL,
    )

    def with_record(batch: Any) -> None:
        batch.create(_ref(payout.id), payout.model_dump(mode="python", exclude={"id"}))

    try:
        applied = ledger.debit(
            account_id=ledger.earnings_account(account_id),
            kind=EntryKind.PAYOUT,
            ref=payout.id,
            micros=amount * records.CREDIT_MICROS,
            memo="market payout",
            extra=with_record,
        )
    except AppError as exc:
        if exc.kind is ErrorKind.INSUFFICIENT_FUNDS:
            raise AppError(
                ErrorKind.INSUFFICIENT_FUNDS,
                "Insufficient balance: amount is above the earnings available for payout",
                {"code": "ERR_4001"},
            ) from None
        raise
    if not applied:  # the same key's request landed first (a racing retry)
        replayed = _replay(payout_id=payout.id, amount=amount)
        assert replayed is not None  # the debit's entry exists only with its record
        return replayed
    return _render_request(send_transfer(payout))


def _render_request(payout: PayoutRecord) -> dict[str, Any]:
    return {
        "id": payout.id,
        "amount": payout.amount_credits,
        "status": str(payout.status),
        "estimatedArrival": records.iso(payout.estimated_arrival),
        "requestedAt": records.iso(payout.requested_at),
    }


def _replay(*, payout_id: str, amount: int) -> dict[str, Any] | None:
    """The payout an Idempotency-Key already made, if any; ERR_3003 for another amount."""
    snap = _ref(payout_id).get()
    if not snap.exists:
        return None
    payout = PayoutRecord(id=snap.id, **(snap.to_dict() or {}))
    if payout.amount_credits != amount:
        raise AppError(
            ErrorKind.CONFLICT,
            "Idempotency-Key was used with another amount",
            {"code": "ERR_3003"},
        )
    return _render_request(payout)


def _transfer_params(payout: PayoutRecord) -> dict[str, Any]:
    """The transfer's parameters: the same on every attempt, as idempotent replay needs."""
    return {
        "amount": payout.amount_credits,  # 1 credit = 1 US cent
        "currency": "usd",
        "destination": payout.stripe_account_id,
        "transfer_group": payout.id,
        "description": "Tarsify creator payout",
        "metadata": {"purpose": PURPOSE, "payout_id": payout.id},
    }


def send_transfer(payout: PayoutRecord) -> PayoutRecord:
    """Create the payout's transfer (pending -> processing); a refusal fails the payout and
    returns the money; a network or server error leaves it pending for the sweep. Only a
    payout still pending is sent: a failed one's money is back in earnings."""
    latest = current(payout.id)
    if latest is None or latest.status is not PayoutStatus.PENDING:
        return latest or payout
    try:
        transfer = stripe_client().v1.transfers.create(
            params=_transfer_params(payout),
            options={"idempotency_key": f"market-payout:{payout.id}"},
        )
    except stripe_errors() as exc:
        if _definitely_refused(exc):
            log.warning("payout %s refused by Stripe: %s", payout.id, type(exc).__name__)
            reason = str(getattr(exc, "code", None) or "transfer refused")
            return fail(payout.id, reason=reason, transfer_id=None) or current(payout.id) or payout
        log.warning("payout %s transfer deferred: %s", payout.id, type(exc).__name__)
        return payout
    moved = transition(
        payout.id,
        allowed_from=(PayoutStatus.PENDING,),
        to=PayoutStatus.PROCESSING,
        updates={"stripe_transfer_id": transfer.id},
    )
    return moved or current(payout.id) or payout


# --- transitions -------------------------------------------------------------------------


def current(payout_id: str) -> PayoutRecord | None:
    snap = _ref(payout_id).get()
    return PayoutRecord(id=snap.id, **snap.to_dict()) if snap.exists else None


def transition(
    payout_id: str,
    *,
    allowed_from: tuple[PayoutStatus, ...],
    to: PayoutStatus,
    updates: dict[str, Any],
    return_money: bool = False,
) -> PayoutRecord | None:
    """Move a payout to `to` if it is in one of `allowed_from`, preconditioned on the record
    (with the money's return in the same batch when `return_money`). Returns the moved
    record, or None when it does not exist or was not in a state to move."""
    ref = _ref(payout_id)
    for _ in range(TRANSITION_TRIES):
        snap = ref.get()
        if not snap.exists:
            return None
        payout = PayoutRecord(id=snap.id, **snap.to_dict())
        if payout.status not in allowed_from:
            return None
        fields = {"status": str(to), **updates}
        batch = db().batch()
        batch.update(ref, fields, option=db().write_option(last_update_time=snap.update_time))
        if return_money:
            ledger.credit_writes(
                batch,
                account_id=ledger.earnings_account(payout.account_id),
                kind=EntryKind.PAYOUT_REVERSAL,
                ref=payout.id,
                micros=payout.amount_credits * records.CREDIT_MICROS,
                memo="market payout returned",
            )
        try:
            commit(batch, label=f"market.payout.{to}")
        except CONFLICTS:
            continue  # moved meanwhile (another delivery): look again
        return payout.model_copy(update={"status": to, **updates})
    raise AppError(ErrorKind.CONFLICT, "Payout is being updated; retry", {"code": "ERR_3003"})


def fail(payout_id: str, *, reason: str, transfer_id: str | None) -> PayoutRecord | None:
    """Any unfinished or completed payout -> failed, its money back in earnings once."""
    updates: dict[str, Any] = {"failure_reason": reason[:200], "processed_at": clock.now()}
    if transfer_id:
        updates["stripe_transfer_id"] = transfer_id
    return transition(
        payout_id,
        allowed_from=(PayoutStatus.PENDING, PayoutStatus.PROCESSING, PayoutStatus.COMPLETED),
        to=PayoutStatus.FAILED,
        updates=updates,
        return_money=True,
    )


def list_payouts(
    *, account_id: str, status: PayoutStatus | None, page: int, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """GET /payouts: the caller's payouts, newest first, optionally of one status."""
    require_developer(account_id)
    payouts = [p for p in payouts_of(account_id) if status is None or p.status is status]
    shown = cut(payouts, page=page, limit=limit)
    return [render(p) for p in shown], meta(page=page, limit=limit, total=len(payouts))
