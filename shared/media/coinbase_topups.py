"""Coinbase Commerce top-ups: charges opened, claimed and settled by webhook.

Invariants (on top of shared/media/topups.py's): every CONFIRMED payment of a charge is
credited once (its own ledger ref `coinbase:<charge>:<network>:<tx>`), whatever the
charge's status says: an underpaid charge credits what arrived, an overpaid one all of it,
a payment after expiry when it confirms. Every event is recorded under the top-up. A claim
needs the charge to be the caller's and to hold a confirmed payment.
"""

from __future__ import annotations

from typing import Any

from shared.engine.errors import AppError, ErrorKind
from shared.media import packages, topups
from shared.providers import coinbase as coinbase_gateway


def coinbase_checkout(
    *, account_id: str, package_code: str, redirect_url: str | None, cancel_url: str | None
) -> dict[str, Any]:
    package = packages.get(package_code)
    charge = coinbase_gateway.create_charge(
        name=f"Killa Tamata credit: {package.name}",
        description=package.description,
        amount_cents=package.price_cents,
        metadata={
            "purpose": topups.PURPOSE,
            "account_id": account_id,
            "package_code": package.code,
        },
        redirect_url=redirect_url,
        cancel_url=cancel_url,
    )
    topups.open_topup(
        provider=topups.Provider.COINBASE,
        external_id=charge.id,
        account_id=account_id,
        package_code=package.code,
        cents=package.price_cents,
    )
    return {
        "provider": "coinbase",
        "chargeId": charge.id,
        "chargeCode": charge.code,
        "checkoutUrl": charge.hosted_url,
        "packageCode": package.code,
        "amountUsdCents": package.price_cents,
    }


def _settle_charge(charge: coinbase_gateway.Charge, *, account_id: str, package_code: str) -> int:
    """Credit every confirmed payment of a charge not credited yet; returns how many."""
    credited = 0
    for payment in charge.payments:
        if payment.status != "CONFIRMED" or payment.usd_cents <= 0:
            continue
        if topups.credit(
            provider=topups.Provider.COINBASE,
            external_id=charge.id,
            account_id=account_id,
            package_code=package_code,
            cents=payment.usd_cents,
            part=payment.id,
            fields={"coinbase_status": charge.status, "coinbase_context": charge.context},
        ):
            credited += 1
    return credited


def claim_coinbase(*, account_id: str, charge_id: str) -> topups.Settlement:
    topup = topups.owned_topup(
        provider=topups.Provider.COINBASE, external_id=charge_id, account_id=account_id
    )
    charge = coinbase_gateway.get_charge(charge_id)
    if charge.metadata.get("account_id") != account_id:
        raise AppError(ErrorKind.FORBIDDEN, "this charge belongs to another account")
    if coinbase_gateway.confirmed_cents(charge) <= 0:
        raise AppError(
            ErrorKind.CONFLICT,
            f"charge has no confirmed payment (status {charge.status})",
            {"code": "payment_pending"},
        )
    _settle_charge(charge, account_id=account_id, package_code=topup["package_code"])
    return topups.settlement(topups.Provider.COINBASE, charge_id, account_id)


def coinbase_event(event: dict[str, Any]) -> str:
    """Apply a verified Coinbase Commerce event. Credits confirmed payments only."""
    charge = coinbase_gateway.charge_from(event["data"])
    if charge.metadata.get("purpose") != topups.PURPOSE or not charge.metadata.get("account_id"):
        return "ignored"
    topups.record_event(
        provider=topups.Provider.COINBASE,
        external_id=charge.id,
        event_id=str(event.get("id", "")) or f"{event['type']}:{charge.status}",
        kind=str(event["type"]),
        data={
            "status": charge.status,
            "context": charge.context,
            "confirmed_cents": coinbase_gateway.confirmed_cents(charge),
        },
    )
    if event["type"] in ("charge:created", "charge:pending") and not charge.payments:
        return "recorded"
    credited = _settle_charge(
        charge,
        account_id=charge.metadata["account_id"],
        package_code=charge.metadata.get("package_code", ""),
    )
    return f"credited {credited} payment(s)" if credited else "nothing new to credit"
