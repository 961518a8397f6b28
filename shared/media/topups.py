"""Top-ups: money entering an account from Stripe, Coinbase Commerce or x402, exactly once.

Invariants:
- Every top-up is a record `topups/<provider>:<external id>` owned by the account that
  opened it (checkout) or paid it (x402). A claim for another account's record is refused
  and changes nothing.
- Crediting is one batch: the ledger entry `topup:<provider>:<external id>[:<part>]`, the
  referrer's commission (shared/media/affiliates/, keyed by the same ref) and the
  record's settlement fields. The entry's create() is the idempotency key, so a claim and
  any number of webhook deliveries racing each other credit once; the losers read back
  the same settlement.
- Money is credited only from what the provider reports paid: a paid Stripe session's
  `amount_total`, each CONFIRMED Coinbase payment (one entry per payment, so an
  underpayment credits what arrived and a later or extra payment adds itself once), a
  settled x402 authorization's amount.
- Refunds and disputes debit through the ledger. A balance never goes negative: what the
  account has already spent is recorded on the top-up as `unrecovered_micros`
  (shared/media/recoveries.py). The referrer's commission is taken back in proportion. One
  that arrives before the payment's credit is applied in the credit's own batch (`TakeBack`),
  so the net is exactly the payment less what was taken back, once.
- A payment the provider identifies (`payment_fingerprint`: Stripe's card fingerprint, the
  x402 payer address) records its account on that payer in the same batch, and the
  commission is withheld when the referrer paid with it too
  (shared/media/affiliates/fingerprints.py).

This module is the common part; each provider's flow is beside it: stripe_topups.py,
coinbase_topups.py, x402_purchase.py.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.engine import clock, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.ledger import EntryKind
from shared.engine.money import MICROS_PER_CENT
from shared.engine.store import CONFLICTS, commit, db, increment
from shared.media import affiliates, recoveries

log = logging.getLogger("relay.topups")

TOPUPS = "topups"
EVENTS = "events"  # subcollection: what the providers told us about a top-up
PURPOSE = "media_topup"


class Provider(StrEnum):
    STRIPE = "stripe"
    COINBASE = "coinbase"
    X402 = "x402"


@dataclass(frozen=True)
class TakeBack:
    """A refund or dispute (`<kind>:<ref>` of `micros`) of a payment not yet credited."""

    kind: EntryKind
    ref: str
    micros: int


@dataclass(frozen=True)
class Settlement:
    provider: Provider
    external_id: str
    package_code: str
    deposit_cents: int
    balance_micros: int

    def public(self) -> dict[str, Any]:
        return {
            "provider": str(self.provider),
            "sessionId": self.external_id if self.provider is Provider.STRIPE else None,
            "chargeId": self.external_id if self.provider is Provider.COINBASE else None,
            "packageCode": self.package_code,
            "depositUsdCents": self.deposit_cents,
            "currentBalanceUsdMicros": self.balance_micros,
        }


def record_ref(provider: Provider, external_id: str) -> Any:
    return db().collection(TOPUPS).document(f"{provider}:{external_id}")


def open_topup(
    *, provider: Provider, external_id: str, account_id: str, package_code: str, cents: int
) -> None:
    record_ref(provider, external_id).set(
        {
            "provider": str(provider),
            "external_id": external_id,
            "account_id": account_id,
            "package_code": package_code,
            "price_cents": cents,
            "status": "open",
            "credited_cents": 0,
            "created_at": clock.now(),
        },
        merge=True,
    )


def owned_topup(*, provider: Provider, external_id: str, account_id: str) -> dict[str, Any]:
    snap = record_ref(provider, external_id).get()
    if not snap.exists:
        raise AppError(ErrorKind.NOT_FOUND, f"unknown {provider} checkout", {"code": "not_found"})
    data = snap.to_dict()
    if data["account_id"] != account_id:
        raise AppError(
            ErrorKind.FORBIDDEN, "this checkout belongs to another account", {"code": "forbidden"}
        )
    return data


def credit(
    *,
    provider: Provider,
    external_id: str,
    account_id: str,
    package_code: str,
    cents: int,
    part: str | None = None,
    fields: dict[str, Any] | None = None,
    take_back: TakeBack | None = None,
    payment_fingerprint: str | None = None,
) -> bool:
    """Credit one payment of a top-up. False when it was credited before. `take_back`: a
    refund or dispute of this payment that arrived before its credit, applied in the same
    batch (so the money it takes back is never spendable in between). `payment_fingerprint`:
    what the provider says identifies the card or wallet that paid (raw; only its keyed
    hash is stored)."""
    entry_ref = f"{provider}:{external_id}" + (f":{part}" if part else "")
    micros = cents * MICROS_PER_CENT
    batch = db().batch()
    shard = ledger.credit_writes(
        batch,
        account_id=account_id,
        kind=EntryKind.TOPUP,
        ref=entry_ref,
        micros=micros,
        memo=f"{provider} top-up {package_code}",
    )
    fingerprint_key = None
    if payment_fingerprint:
        fingerprint_key = affiliates.fingerprint_id(str(provider), payment_fingerprint)
        affiliates.fingerprint_writes(
            batch, account_id=account_id, provider=str(provider), fingerprint_key=fingerprint_key
        )
    affiliates.commission_writes(
        batch,
        referred_account_id=account_id,
        topup_ref=entry_ref,
        deposit_micros=micros,
        fingerprint_key=fingerprint_key,
    )
    if take_back is not None:
        taken = min(take_back.micros, micros)
        ledger.covered_debit_writes(
            batch,
            account_id=account_id,
            kind=take_back.kind,
            ref=take_back.ref,
            micros=taken,
            shard=shard,
            memo=f"{take_back.kind} before its top-up's credit",
        )
        recoveries.note_writes(
            batch,
            account_id=account_id,
            record=record_ref(provider, external_id),
            kind=take_back.kind,
            ref=take_back.ref,
            micros=take_back.micros,
            taken=taken,
        )
    batch.set(
        record_ref(provider, external_id),
        {
            "provider": str(provider),
            "external_id": external_id,
            "account_id": account_id,
            "package_code": package_code,
            "status": "settled",
            "credited_cents": increment(cents),
            "settled_at": clock.now(),
            **(fields or {}),
        },
        merge=True,
    )
    try:
        commit(batch, label="ledger.topup")
    except CONFLICTS:
        credited = False
    else:
        credited = True
        log.info("credited %s top-up %s: %d cents", provider, entry_ref, cents)
    if fingerprint_key is not None:
        # A self-referral this payment reveals about earlier commissions (idempotent, so a
        # replay finishes what a crash after the commit left undone).
        affiliates.withhold_found_later(account_id=account_id, fingerprint_key=fingerprint_key)
    return credited


def settlement(provider: Provider, external_id: str, account_id: str) -> Settlement:
    """The settled record of `account_id`'s top-up and its balance, read in one round trip."""
    balance, (snap,) = ledger.balance_with(account_id, [record_ref(provider, external_id)])
    return _settlement(provider, external_id, snap.to_dict() or {}, balance)


def settlement_from(provider: Provider, external_id: str, data: dict[str, Any]) -> Settlement:
    return _settlement(provider, external_id, data, ledger.balance(data["account_id"]))


def _settlement(
    provider: Provider, external_id: str, data: dict[str, Any], balance: ledger.Balance
) -> Settlement:
    return Settlement(
        provider=provider,
        external_id=external_id,
        package_code=str(data.get("package_code", "")),
        deposit_cents=int(data.get("credited_cents", 0)),
        balance_micros=balance.available_micros,
    )


def record_event(
    *, provider: Provider, external_id: str, event_id: str, kind: str, data: dict[str, Any]
) -> None:
    """Keep what a provider said about a top-up (idempotent by event id)."""
    with contextlib.suppress(*CONFLICTS):
        record_ref(provider, external_id).collection(EVENTS).document(event_id).create(
            {"type": kind, "received_at": clock.now(), **data}
        )


# --- x402 -----------------------------------------------------------------------------


def x402_credit(*, account_id: str, payment_id: str, cents: int, fields: dict[str, Any]) -> bool:
    return credit(
        provider=Provider.X402,
        external_id=payment_id,
        account_id=account_id,
        package_code=f"usd_{cents}",
        cents=cents,
        fields=fields,
        # The payer's wallet address: one wallet, whatever the network or letter case.
        payment_fingerprint=str(fields["payer"]).lower() if fields.get("payer") else None,
    )
