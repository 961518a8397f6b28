"""The ``/v1`` route table of the local Stripe server: which path and method runs which
resource function, and what object type it answers with (for checking ``expand[]``).

Retrieve and list endpoints that need nothing beyond the store are built here generically.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.local.stripe import connect, payments, reversals
from infra.local.stripe.params import LIST_FIELDS, Arr, Bool, Email, Obj, Range, Spec, Str, parse
from infra.local.stripe.store import Context, Store

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    result: str  # object type returned, for validating expand[] before anything changes
    handler: Handler


# -- generic handlers -------------------------------------------------------------------------


def _retrieve(object_name: str) -> Handler:
    def handler(store: Store, ctx: Context, raw: dict[str, Any], object_id: str) -> dict[str, Any]:
        parse(raw, {})
        return store.get(object_name, object_id, ctx)

    return handler


def _lister(
    object_name: str,
    url: str,
    filters: dict[str, Spec],
    keep: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None,
) -> Handler:
    def handler(store: Store, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
        p = parse(raw, {**LIST_FIELDS, **filters})

        def matches(obj: dict[str, Any]) -> bool:
            if keep is not None:
                return keep(obj, p)
            return all(obj.get(name) == p[name] for name in filters if name in p)

        return store.page(object_name, ctx, p, url, matches)

    return handler


def _event_matches(event: dict[str, Any], p: dict[str, Any]) -> bool:
    patterns = ([p["type"]] if "type" in p else []) + p.get("types", [])
    return not patterns or any(fnmatch.fnmatchcase(event["type"], pat) for pat in patterns)


def _session_matches(session: dict[str, Any], p: dict[str, Any]) -> bool:
    for name in ("payment_intent", "customer", "status"):
        if name in p and session.get(name) != p[name]:
            return False
    email = p.get("customer_details", {}).get("email")
    return email is None or (session.get("customer_details") or {}).get("email") == email


ROUTES: list[Route] = [
    Route("POST", "/v1/checkout/sessions", "checkout.session", payments.create_checkout_session),
    Route(
        "GET",
        "/v1/checkout/sessions",
        "list:checkout.session",
        _lister(
            "checkout.session",
            "/v1/checkout/sessions",
            {
                "payment_intent": Str(),
                "customer": Str(),
                "status": Str(("open", "complete", "expired")),
                "customer_details": Obj({"email": Email()}),
            },
            _session_matches,
        ),
    ),
    Route("GET", "/v1/checkout/sessions/<sid>", "checkout.session", _retrieve("checkout.session")),
    Route(
        "POST",
        "/v1/checkout/sessions/<sid>/expire",
        "checkout.session",
        payments.expire_checkout_session,
    ),
    Route(
        "GET", "/v1/checkout/sessions/<sid>/line_items", "list:item", payments.retrieve_line_items
    ),
    Route("GET", "/v1/payment_intents/<pid>", "payment_intent", _retrieve("payment_intent")),
    Route(
        "GET",
        "/v1/payment_intents",
        "list:payment_intent",
        _lister("payment_intent", "/v1/payment_intents", {"customer": Str()}),
    ),
    Route("GET", "/v1/charges/<cid>", "charge", _retrieve("charge")),
    Route(
        "GET",
        "/v1/charges",
        "list:charge",
        _lister(
            "charge",
            "/v1/charges",
            {"payment_intent": Str(), "customer": Str(), "transfer_group": Str()},
        ),
    ),
    Route("POST", "/v1/refunds", "refund", payments.create_refund),
    Route("GET", "/v1/refunds/<rid>", "refund", _retrieve("refund")),
    Route(
        "GET",
        "/v1/refunds",
        "list:refund",
        _lister("refund", "/v1/refunds", {"charge": Str(), "payment_intent": Str()}),
    ),
    Route("GET", "/v1/disputes/<did>", "dispute", _retrieve("dispute")),
    Route(
        "GET",
        "/v1/disputes",
        "list:dispute",
        _lister("dispute", "/v1/disputes", {"charge": Str(), "payment_intent": Str()}),
    ),
    Route("POST", "/v1/customers", "customer", payments.create_customer),
    Route("GET", "/v1/customers/<cid>", "customer", _retrieve("customer")),
    Route(
        "GET",
        "/v1/customers",
        "list:customer",
        _lister("customer", "/v1/customers", {"email": Str()}),
    ),
    Route(
        "GET",
        "/v1/balance_transactions/<tid>",
        "balance_transaction",
        _retrieve("balance_transaction"),
    ),
    Route("GET", "/v1/events/<eid>", "event", _retrieve("event")),
    Route(
        "GET",
        "/v1/events",
        "list:event",
        _lister(
            "event",
            "/v1/events",
            {"type": Str(), "types": Arr(Str(), max_items=20), "delivery_success": Bool()},
            _event_matches,
        ),
    ),
    Route("POST", "/v1/accounts", "account", connect.create_account),
    Route("GET", "/v1/accounts", "list:account", _lister("account", "/v1/accounts", {})),
    Route("GET", "/v1/accounts/<aid>", "account", connect.retrieve_account),
    Route("POST", "/v1/accounts/<aid>", "account", connect.update_account),
    Route("POST", "/v1/accounts/<aid>/login_links", "login_link", connect.create_login_link),
    Route("GET", "/v1/account", "account", connect.retrieve_own_account),
    Route("POST", "/v1/account_links", "account_link", connect.create_account_link),
    Route("POST", "/v1/transfers", "transfer", connect.create_transfer),
    Route("GET", "/v1/transfers/<tid>", "transfer", _retrieve("transfer")),
    Route(
        "POST",
        "/v1/transfers/<tid>/reversals",
        "transfer_reversal",
        reversals.create_reversal,
    ),
    Route(
        "GET",
        "/v1/transfers",
        "list:transfer",
        _lister("transfer", "/v1/transfers", {"destination": Str(), "transfer_group": Str()}),
    ),
    Route("POST", "/v1/payouts", "payout", connect.create_payout),
    Route("GET", "/v1/payouts/<pid>", "payout", _retrieve("payout")),
    Route(
        "GET",
        "/v1/payouts",
        "list:payout",
        _lister(
            "payout",
            "/v1/payouts",
            {"status": Str(), "destination": Str(), "arrival_date": Range()},
            lambda obj, p: all(obj.get(k) == p[k] for k in ("status", "destination") if k in p),
        ),
    ),
]
