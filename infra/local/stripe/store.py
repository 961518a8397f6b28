"""The in-memory object store of the local Stripe server: records, ownership, lists, expansion,
events and webhook endpoints.

Every object is kept as the exact JSON dict the API returns and is changed in place by the
resource modules (payments.py, connect.py); reads hand out deep copies. An object belongs to
the account whose context created it (the platform, or the connected account named by a
``Stripe-Account`` header), and API reads see only that account's objects, as on Stripe. One
re-entrant lock guards everything; the HTTP layer holds it for the whole of each request.
"""

from __future__ import annotations

import copy
import itertools
import json
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from infra.local.stripe.params import StripeError, invalid, no_such
from infra.local.stripe.webhooks import Deliverer, Endpoint

_ALPHABET = string.ascii_letters + string.digits

# Zero-decimal currencies are charged in whole units (Stripe's list).
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)

# Which fields hold the id of another object that ``expand[]`` may replace with that object.
EXPANDABLE: dict[str, dict[str, str]] = {
    "checkout.session": {
        "payment_intent": "payment_intent",
        "customer": "customer",
        "line_items": "list:item",
    },
    "payment_intent": {"latest_charge": "charge", "customer": "customer"},
    "charge": {
        "payment_intent": "payment_intent",
        "customer": "customer",
        "balance_transaction": "balance_transaction",
    },
    "refund": {
        "charge": "charge",
        "payment_intent": "payment_intent",
        "balance_transaction": "balance_transaction",
    },
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
    "transfer": {
        "destination": "account",
        "balance_transaction": "balance_transaction",
        "source_transaction": "charge",
    },
    "payout": {"balance_transaction": "balance_transaction"},
}
MAX_EXPAND_DEPTH = 4


def now() -> int:
    return int(time.time())


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def format_amount(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    units = f"{amount // 100:,}.{amount % 100:02d}" if amount >= 0 else f"-{-amount / 100:,.2f}"
    return f"${units}" if currency == "usd" else f"{units} {currency.upper()}"


@dataclass(frozen=True)
class Context:
    """Who is calling and why: the account context and the request that caused a change."""

    account: str | None = None  # connected account from Stripe-Account; None is the platform
    request_id: str | None = None
    idempotency_key: str | None = None
    base_url: str = ""  # where this server is reached, for the URLs it hands out


@dataclass
class Record:
    obj: dict[str, Any]
    owner: str | None
    seq: int

    @property
    def order(self) -> tuple[int, int]:
        return (self.obj.get("created", 0), self.seq)


@dataclass
class Saved:
    """A response stored under an Idempotency-Key."""

    method: str
    path: str
    params: str
    status: int
    body: bytes
    request_id: str


class Store:
    def __init__(self, *, api_version: str, deliverer: Deliverer, public_url: str | None) -> None:
        self.lock = threading.RLock()
        self.api_version = api_version
        self.deliverer = deliverer
        self.public_url = public_url.rstrip("/") if public_url else None
        self.records: dict[str, Record] = {}
        # Data Stripe keeps but does not show on the object (line items, link targets, ...).
        self.private: dict[str, dict[str, Any]] = {}
        self.event_bodies: dict[str, bytes] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.idempotency: dict[tuple[str | None, str], Saved] = {}
        self.open_sessions: set[str] = set()
        self.stopping = threading.Event()
        self._seq = itertools.count()
        self.platform: dict[str, Any] = {
            "id": new_id("acct_", 16),
            "object": "account",
            "business_profile": {"name": "Relay (local)", "url": None},
            "business_type": "company",
            "capabilities": {"card_payments": "active", "transfers": "active"},
            "charges_enabled": True,
            "country": "US",
            "created": now(),
            "default_currency": "usd",
            "details_submitted": True,
            "email": None,
            "metadata": {},
            "payouts_enabled": True,
            "type": "standard",
        }

    def close(self) -> None:
        self.stopping.set()
        self.deliverer.close()

    # -- records --------------------------------------------------------------------------

    def put(self, obj: dict[str, Any], owner: str | None) -> dict[str, Any]:
        self.records[obj["id"]] = Record(obj, owner, next(self._seq))
        return obj

    def find(self, object_name: str, object_id: str) -> Record | None:
        """Any account's object (for the local helpers, which act as Stripe itself would)."""
        rec = self.records.get(object_id)
        return rec if rec is not None and rec.obj["object"] == object_name else None

    def find_or_404(self, object_name: str, object_id: str) -> Record:
        rec = self.find(object_name, object_id)
        if rec is None:
            raise no_such(object_name, object_id)
        return rec

    def get(
        self,
        object_name: str,
        object_id: str,
        ctx: Context,
        *,
        param: str = "id",
        status: int = 404,
    ) -> dict[str, Any]:
        rec = self.find(object_name, object_id)
        if rec is None or rec.owner != ctx.account:
            raise no_such(object_name, object_id, param=param, status=status)
        return rec.obj

    def objects(self, object_name: str) -> Iterator[Record]:
        return (r for r in list(self.records.values()) if r.obj["object"] == object_name)

    def connected_account(self, account_id: str) -> dict[str, Any] | None:
        rec = self.find("account", account_id)
        return rec.obj if rec is not None and rec.owner is None else None

    def resolve_account_header(self, value: str | None, api_key: str) -> str | None:
        if not value or value == self.platform["id"]:
            return None
        if self.connected_account(value) is None:
            raise StripeError(
                403,
                f"The provided key 'sk_test_***{api_key[-4:]}' does not have access to account "
                f"'{value}' (or that account does not exist). Application access may have been "
                "revoked.",
                code="account_invalid",
            )
        return value

    def url(self, ctx: Context, path: str) -> str:
        return f"{self.public_url or ctx.base_url.rstrip('/')}{path}"

    # -- lists ----------------------------------------------------------------------------

    def page(
        self,
        object_name: str,
        ctx: Context,
        params: dict[str, Any],
        url: str,
        keep: Callable[[dict[str, Any]], bool] = lambda _obj: True,
    ) -> dict[str, Any]:
        """Stripe's cursor pagination, newest first: limit, starting_after, ending_before."""
        created = params.get("created")
        rows = [
            r
            for r in self.objects(object_name)
            if r.owner == ctx.account and keep(r.obj) and _in_range(r.obj["created"], created)
        ]
        rows.sort(key=lambda r: r.order, reverse=True)
        limit = params.get("limit", 10)
        if params.get("starting_after"):
            cursor = self._cursor(object_name, ctx, params["starting_after"], "starting_after")
            older = [r for r in rows if r.order < cursor.order]
            page, has_more = older[:limit], len(older) > limit
        elif params.get("ending_before"):
            cursor = self._cursor(object_name, ctx, params["ending_before"], "ending_before")
            newer = [r for r in rows if r.order > cursor.order]
            page, has_more = newer[-limit:], len(newer) > limit
        else:
            page, has_more = rows[:limit], len(rows) > limit
        return {
            "object": "list",
            "data": [copy.deepcopy(r.obj) for r in page],
            "has_more": has_more,
            "url": url,
        }

    def _cursor(self, object_name: str, ctx: Context, object_id: str, param: str) -> Record:
        rec = self.find(object_name, object_id)
        if rec is None or rec.owner != ctx.account:
            raise no_such(object_name, object_id, param=param, status=400)
        return rec

    # -- expansion ------------------------------------------------------------------------

    def check_expand(self, object_name: str, paths: list[str]) -> None:
        """Reject an unknown expansion before the request changes anything."""
        for path in paths:
            segments = path.split(".")
            if len(segments) > MAX_EXPAND_DEPTH:
                raise invalid(
                    "expand",
                    f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property.",
                )
            current = object_name
            for segment in segments:
                if current.startswith("list:"):
                    fields = {"data": current[5:]}
                else:
                    fields = EXPANDABLE.get(current, {})
                if segment not in fields:
                    hint = ""
                    if current.startswith("list:"):
                        hint = f" You may want to try expanding 'data.{segment}' instead."
                    raise invalid("expand", f"This property cannot be expanded ({segment}).{hint}")
                current = fields[segment]

    def render(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        for path in paths:
            self._expand(out, path.split("."))
        return out

    def _expand(self, node: dict[str, Any], segments: list[str]) -> None:
        head, rest = segments[0], segments[1:]
        if node.get("object") == "list" and head == "data":
            for item in node["data"]:
                if rest:
                    self._expand(item, rest)
            return
        if head == "line_items" and node.get("object") == "checkout.session":
            node["line_items"] = self.line_items(node["id"])
        else:
            value = node.get(head)
            rec = self.records.get(value) if isinstance(value, str) else None
            if rec is not None:
                node[head] = copy.deepcopy(rec.obj)
        if rest and isinstance(node.get(head), dict):
            self._expand(node[head], rest)

    def line_items(self, session_id: str) -> dict[str, Any]:
        return {
            "object": "list",
            "data": copy.deepcopy(self.private[session_id]["line_items"]),
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    # -- events and webhooks --------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        ctx: Context,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event with a snapshot of ``obj`` and queue it for every matching endpoint."""
        targets = [e for e in self.endpoints.values() if e.wants(event_type)]
        event: dict[str, Any] = {"id": new_id("evt_"), "object": "event"}
        if ctx.account:
            # Events on connected accounts name the account, as Connect webhooks do.
            event["account"] = ctx.account
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event.update(
            {
                "api_version": self.api_version,
                "created": now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": len(targets),
                "request": {"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
                "type": event_type,
            }
        )
        body = json.dumps(event, indent=2).encode()
        self.put(event, ctx.account)
        self.event_bodies[event["id"]] = body
        for endpoint in targets:
            self.deliverer.submit(event["id"], body, endpoint)
        return event

    def resend(self, event_id: str, endpoint_id: str | None = None) -> list[Endpoint]:
        event = self.find_or_404("event", event_id).obj
        targets = [
            e
            for e in self.endpoints.values()
            if e.wants(event["type"]) and endpoint_id in (None, e.id)
        ]
        if endpoint_id is not None and not targets:
            raise no_such("webhook_endpoint", endpoint_id, param="endpoint", status=400)
        for endpoint in targets:
            self.deliverer.submit(event_id, self.event_bodies[event_id], endpoint)
        return targets

    def add_endpoint(
        self, url: str, secret: str, enabled_events: tuple[str, ...] = ("*",)
    ) -> Endpoint:
        endpoint = Endpoint(new_id("we_"), url, secret, enabled_events)
        self.endpoints[endpoint.id] = endpoint
        return endpoint


def _in_range(value: int, bounds: dict[str, int] | None) -> bool:
    if not bounds:
        return True
    checks = {
        "eq": value == bounds.get("eq", value),
        "gt": value > bounds.get("gt", value - 1),
        "gte": value >= bounds.get("gte", value),
        "lt": value < bounds.get("lt", value + 1),
        "lte": value <= bounds.get("lte", value),
    }
    return all(checks.values())
