"""Connect resources of the local Stripe server: connected Accounts, Account Links, Login Links,
Transfers and Payouts.

A new connected account cannot take charges, receive transfers or pay out until it finishes
onboarding (the Account Link page, or the local ``onboard`` helper); onboarding turns its
requested capabilities (``card_payments`` and ``transfers`` if none were requested) ``active``,
sets ``charges_enabled``/``payouts_enabled``/``details_submitted`` and emits ``account.updated``
on the account (the event carries ``"account"``, as Connect events do). A Transfer needs an
active ``transfers`` capability on its destination, like on Stripe. Payouts are made for the
platform or, with a ``Stripe-Account`` header, for a connected account; they start ``pending``
and a local helper settles them ``paid`` or ``failed``. Balances are not tracked: transfers and
payouts never fail for insufficient funds.
"""

from __future__ import annotations

import copy
from typing import Any

from infra.local.stripe.params import (
    Anything,
    Bool,
    Currency,
    Email,
    Int,
    Map,
    Metadata,
    Obj,
    Str,
    StripeError,
    Url,
    invalid,
    missing,
    no_such,
    parse,
)
from infra.local.stripe.store import Context, Store, new_id, now

ACCOUNT_LINK_TTL_S = 300
PAYOUT_DELAY_S = 2 * 86400
CURRENCY_BY_COUNTRY = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "JP": "jpy", "CH": "chf"}
EURO_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "CY",
        "DE",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PT",
        "SI",
        "SK",
    ]
)
DUE_BEFORE_ONBOARDING = [
    "business_type",
    "external_account",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]

BUSINESS_PROFILE = Obj(
    {
        "name": Str(),
        "url": Str(),
        "mcc": Str(),
        "product_description": Str(),
        "support_email": Email(),
        "support_phone": Str(),
        "support_url": Str(),
    }
)
ACCOUNT_FIELDS = {
    "type": Str(("express", "standard", "custom")),
    "country": Str(max_len=2),
    "email": Email(),
    "business_type": Str(("individual", "company", "non_profit", "government_entity")),
    "business_profile": BUSINESS_PROFILE,
    "capabilities": Map(Obj({"requested": Bool()})),
    "default_currency": Currency(),
    "metadata": Metadata(),
    # Identity and settings detail: stored nowhere, since onboarding is simulated wholesale.
    "controller": Anything(),
    "settings": Anything(),
    "tos_acceptance": Anything(),
    "individual": Anything(),
    "company": Anything(),
    "external_account": Anything(),
}
ACCOUNT_UPDATE_FIELDS = {
    "email": Email(),
    "business_profile": BUSINESS_PROFILE,
    "capabilities": Map(Obj({"requested": Bool()})),
    "metadata": Metadata(),
    "settings": Anything(),
    "tos_acceptance": Anything(),
    "individual": Anything(),
    "company": Anything(),
}


# -- Accounts -------------------------------------------------------------------------------


def create_account(store: Store, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
    p = parse(raw, ACCOUNT_FIELDS)
    if ctx.account is not None:
        raise invalid("", "Connected accounts can only be created by the platform.")
    if "type" not in p:
        raise missing("type")
    country = p.get("country", "US").upper()
    currency = p.get("default_currency") or (
        "eur" if country in EURO_COUNTRIES else CURRENCY_BY_COUNTRY.get(country, "usd")
    )
    account_id = new_id("acct_", 16)
    requested = [k for k, v in p.get("capabilities", {}).items() if v.get("requested")]
    profile = {
        "mcc": None,
        "name": None,
        "product_description": None,
        "support_email": None,
        "support_phone": None,
        "support_url": None,
        "url": None,
        **p.get("business_profile", {}),
    }
    account = {
        "id": account_id,
        "object": "account",
        "business_profile": profile,
        "business_type": p.get("business_type"),
        "capabilities": {name: "inactive" for name in requested},
        "charges_enabled": False,
        "controller": {
            "is_controller": True,
            "type": "account" if p["type"] == "standard" else "application",
        },
        "country": country,
        "created": now(),
        "default_currency": currency,
        "details_submitted": False,
        "email": p.get("email"),
        "external_accounts": _external_accounts(account_id, []),
        "future_requirements": _requirements([]),
        "metadata": p.get("metadata", {}),
        "payouts_enabled": False,
        "requirements": _requirements(DUE_BEFORE_ONBOARDING),
        "settings": {
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            }
        },
        "tos_acceptance": {"date": None},
        "type": p["type"],
    }
    return store.put(account, None)


def _requirements(due: list[str]) -> dict[str, Any]:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def _external_accounts(account_id: str, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "total_count": len(data),
        "url": f"/v1/accounts/{account_id}/external_accounts",
    }


def retrieve_account(
    store: Store, ctx: Context, raw: dict[str, Any], account_id: str
) -> dict[str, Any]:
    parse(raw, {})
    if account_id == store.platform["id"] and ctx.account is None:
        return store.platform
    if ctx.account is not None and account_id != ctx.account:
        raise no_such("account", account_id)
    return store.get("account", account_id, Context())


def retrieve_own_account(store: Store, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/account``: the platform, or the connected account named by Stripe-Account."""
    parse(raw, {})
    if ctx.account is None:
        return store.platform
    return store.get("account", ctx.account, Context())


def update_account(
    store: Store, ctx: Context, raw: dict[str, Any], account_id: str
) -> dict[str, Any]:
    p = parse(raw, ACCOUNT_UPDATE_FIELDS)
    account = retrieve_account(store, ctx, {}, account_id)
    if account is store.platform:
        raise invalid("", "The local Stripe server does not update the platform account.")
    before = copy.deepcopy(account)
    if "email" in p:
        account["email"] = p["email"]
    if "business_profile" in p:
        account["business_profile"].update(p["business_profile"])
    if raw.get("metadata") == "":
        account["metadata"] = {}
    else:
        metadata = {**account["metadata"], **p.get("metadata", {})}
        # "metadata[key]=" unsets key on an update.
        for key, value in (raw.get("metadata") or {}).items():
            if value == "":
                metadata.pop(key, None)
        account["metadata"] = metadata
    for name, want in p.get("capabilities", {}).items():
        if want.get("requested") and name not in account["capabilities"]:
            account["capabilities"][name] = "active" if account["details_submitted"] else "inactive"
    _emit_account_updated(store, account, before)
    return account


def _emit_account_updated(store: Store, account: dict[str, Any], before: dict[str, Any]) -> None:
    previous = {k: v for k, v in before.items() if account.get(k) != v}
    if previous:
        store.emit("account.updated", account, Context(account=account["id"]), previous)


def onboard_account(store: Store, account_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Finish onboarding as the account holder would on Stripe's hosted onboarding."""
    parse(raw, {})
    account = store.connected_account(account_id)
    if account is None:
        raise no_such("account", account_id)
    if account["details_submitted"]:
        return account
    before = copy.deepcopy(account)
    capabilities = account["capabilities"] or {"card_payments": "inactive", "transfers": "inactive"}
    bank = {
        "id": new_id("ba_"),
        "object": "bank_account",
        "account": account_id,
        "bank_name": "STRIPE TEST BANK",
        "country": account["country"],
        "currency": account["default_currency"],
        "default_for_currency": True,
        "last4": "6789",
        "routing_number": "110000000",
        "status": "new",
    }
    account.update(
        {
            "business_type": account["business_type"] or "individual",
            "capabilities": {name: "active" for name in capabilities},
            "charges_enabled": True,
            "details_submitted": True,
            "external_accounts": _external_accounts(account_id, [bank]),
            "payouts_enabled": True,
            "requirements": _requirements([]),
            "tos_acceptance": {"date": now()},
        }
    )
    _emit_account_updated(store, account, before)
    return account


def create_login_link(
    store: Store, ctx: Context, raw: dict[str, Any], account_id: str
) -> dict[str, Any]:
    parse(raw, {})
    account = store.get("account", account_id, Context())
    if account["type"] != "express":
        raise invalid("account", "Login links can only be created for Express accounts.")
    if not account["details_submitted"]:
        raise invalid(
            "account",
            "Cannot create a login link for an account that has not completed onboarding.",
        )
    return {
        "object": "login_link",
        "created": now(),
        "url": store.url(ctx, f"/connect/dashboard/{account_id}"),
    }


# -- Account Links --------------------------------------------------------------------------

ACCOUNT_LINK_FIELDS = {
    "account": Str(),
    "type": Str(("account_onboarding", "account_update")),
    "refresh_url": Url(),
    "return_url": Url(),
    "collect": Str(("currently_due", "eventually_due")),
    "collection_options": Anything(),
}


def create_account_link(store: Store, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
    p = parse(raw, ACCOUNT_LINK_FIELDS)
    for name in ("account", "type"):
        if name not in p:
            raise missing(name)
    account = store.connected_account(p["account"])
    if account is None or ctx.account is not None:
        raise no_such("account", p["account"], param="account", status=400)
    if p["type"] == "account_update" and account["type"] != "custom":
        raise invalid(
            "type",
            f"You cannot create `account_update` type Account Links for {account['type']} "
            "accounts.",
        )
    token = new_id("", 32)
    created = now()
    store.private[f"link:{token}"] = {
        "account": account["id"],
        "refresh_url": p.get("refresh_url"),
        "return_url": p.get("return_url"),
        "expires_at": created + ACCOUNT_LINK_TTL_S,
        "visited": False,
    }
    return {
        "object": "account_link",
        "created": created,
        "expires_at": created + ACCOUNT_LINK_TTL_S,
        "url": store.url(ctx, f"/connect/onboard/{token}"),
    }


def account_link(store: Store, token: str) -> dict[str, Any] | None:
    return store.private.get(f"link:{token}")


# -- Transfers --------------------------------------------------------------------------------

TRANSFER_FIELDS = {
    "amount": Int(minimum=1),
    "currency": Currency(),
    "destination": Str(),
    "description": Str(),
    "metadata": Metadata(),
    "source_transaction": Str(),
    "transfer_group": Str(),
    "source_type": Str(("bank_account", "card", "fpx")),
}


def create_transfer(store: Store, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
    p = parse(raw, TRANSFER_FIELDS)
    for name in ("amount", "currency", "destination"):
        if name not in p:
            raise missing(name)
    account = store.connected_account(p["destination"])
    if account is None or ctx.account is not None:
        raise StripeError(
            400,
            f"No such destination: '{p['destination']}'",
            code="resource_missing",
            param="destination",
        )
    if account["capabilities"].get("transfers") != "active":
        raise StripeError(
            400,
            "Your destination account needs to have at least one of the following capabilities "
            "enabled: transfers, crypto_transfers, legacy_payments",
            code="insufficient_capabilities_for_transfer",
            param="destination",
        )
    if "source_transaction" in p:
        store.get("charge", p["source_transaction"], ctx, param="source_transaction", status=400)
    transfer_id, created = new_id("tr_"), now()
    txn_id = new_id("txn_")
    transfer = {
        "id": transfer_id,
        "object": "transfer",
        "amount": p["amount"],
        "amount_reversed": 0,
        "balance_transaction": txn_id,
        "created": created,
        "currency": p["currency"],
        "description": p.get("description"),
        "destination": account["id"],
        "destination_payment": new_id("py_"),
        "livemode": False,
        "metadata": p.get("metadata", {}),
        "reversals": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/transfers/{transfer_id}/reversals",
        },
        "reversed": False,
        "source_transaction": p.get("source_transaction"),
        "source_type": p.get("source_type", "card"),
        "transfer_group": p.get("transfer_group"),
    }
    store.put(
        {
            "id": txn_id,
            "object": "balance_transaction",
            "amount": -p["amount"],
            "available_on": created,
            "created": created,
            "currency": p["currency"],
            "description": p.get("description"),
            "fee": 0,
            "fee_details": [],
            "net": -p["amount"],
            "reporting_category": "transfer",
            "source": transfer_id,
            "status": "available",
            "type": "transfer",
        },
        None,
    )
    store.put(transfer, None)
    store.emit("transfer.created", transfer, Context(None, ctx.request_id, ctx.idempotency_key))
    return transfer


# -- Payouts --------------------------------------------------------------------------------

PAYOUT_FIELDS = {
    "amount": Int(minimum=1),
    "currency": Currency(),
    "description": Str(),
    "destination": Str(),
    "metadata": Metadata(),
    "method": Str(("standard", "instant")),
    "source_type": Str(("bank_account", "card", "fpx")),
    "statement_descriptor": Str(max_len=22),
}


def create_payout(store: Store, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
    p = parse(raw, PAYOUT_FIELDS)
    for name in ("amount", "currency"):
        if name not in p:
            raise missing(name)
    account = store.platform if ctx.account is None else store.connected_account(ctx.account)
    assert account is not None
    if not account["payouts_enabled"]:
        raise StripeError(
            400,
            "Payouts are not enabled for this account; it must finish onboarding first.",
            code="payouts_not_allowed",
        )
    banks = account.get("external_accounts", {}).get("data") or [{"id": new_id("ba_")}]
    created = now()
    payout = {
        "id": new_id("po_"),
        "object": "payout",
        "amount": p["amount"],
        "arrival_date": created + (0 if p.get("method") == "instant" else PAYOUT_DELAY_S),
        "automatic": False,
        "balance_transaction": None,
        "created": created,
        "currency": p["currency"],
        "description": p.get("description"),
        "destination": p.get("destination", banks[0]["id"]),
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": p.get("metadata", {}),
        "method": p.get("method", "standard"),
        "source_type": p.get("source_type", "card"),
        "statement_descriptor": p.get("statement_descriptor"),
        "status": "pending",
        "type": "bank_account",
    }
    store.put(payout, ctx.account)
    store.emit("payout.created", payout, ctx)
    return payout


def settle_payout(store: Store, payout_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Move a pending payout to ``paid`` or ``failed``, as the bank eventually would."""
    p = parse(raw, {"status": Str(("paid", "failed")), "failure_code": Str()})
    if "status" not in p:
        raise missing("status")
    rec = store.find_or_404("payout", payout_id)
    payout, ctx = rec.obj, Context(account=rec.owner)
    if payout["status"] != "pending":
        raise invalid("status", f"Payout {payout_id} is already {payout['status']}.")
    previous = {"status": payout["status"]}
    payout["status"] = p["status"]
    if p["status"] == "failed":
        code = p.get("failure_code", "account_closed")
        payout.update({"failure_code": code, "failure_message": f"The payout failed ({code})."})
        previous.update({"failure_code": None, "failure_message": None})
    store.emit("payout.updated", payout, ctx, previous)
    store.emit(f"payout.{p['status']}", payout, ctx)
    return payout
