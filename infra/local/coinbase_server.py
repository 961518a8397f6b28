"""A stateful local stand-in for Coinbase Commerce's (legacy) Charges API and its webhooks.

Relay's production adapter (``shared/coinbase_gateway.py``) talks to this server unchanged; only
``RELAY_COINBASE_API_BASE`` differs. What the server guarantees:

* **Wire format.** ``POST /charges``, ``GET /charges/<id or code>``, ``GET /charges`` (with
  ``limit``, ``starting_after``, ``ending_before``, ``order`` and a ``pagination`` object) and
  ``POST /charges/<id or code>/cancel``, authenticated by ``X-CC-Api-Key`` (``X-CC-Version``
  is accepted and echoed). Bodies are JSON; answers are ``{"data": ...}``. Errors are
  ``{"error": {"type", "message"}}``: 401 ``authentication_error``, 400 ``invalid_request``,
  404 ``not_found`` (also for unknown URLs). A request that fails changes nothing.
* **Charges** have Commerce's fields (``id`` uuid, ``resource``, 8-character ``code``,
  ``hosted_url`` = ``<base>/pay/<code>``, ``pricing.local``, ``payments``, ``timeline``, ...).
  Only ``fixed_price`` USD charges exist; amounts are strings with two decimals, and the server
  does all money arithmetic in ``Decimal``. A charge expires one hour after creation
  (``--charge-ttl-s``) while no payment has reached it.
* **Payment outcomes** (``POST /_local/charges/<id>/pay``, the hosted page): a payment is always
  recorded as a CONFIRMED payment of that many USD (USDC 1:1); then, while the charge is open
  (NEW, PENDING, or UNRESOLVED/UNDERPAID before expiry) the total paid decides: equal to the
  price -> COMPLETED, ``confirmed_at``, ``charge:confirmed``; below -> UNRESOLVED/UNDERPAID,
  ``charge:failed`` (a later top-up re-evaluates); above -> UNRESOLVED/OVERPAID,
  ``charge:failed``, as Commerce's legacy API leaves overpayments for the merchant to resolve.
  ``pending_first`` first records the payment PENDING with a PENDING timeline entry and
  ``charge:pending``. A payment to an EXPIRED or CANCELED charge -> UNRESOLVED/DELAYED,
  ``charge:delayed``; to a charge already settled (COMPLETED, RESOLVED, other UNRESOLVED) ->
  UNRESOLVED/MULTIPLE, ``charge:failed``. ``charge:failed`` therefore does not mean "nothing was
  paid": consumers credit from the CONFIRMED payments in the snapshot, never the event type.
  Expiry (the clock or ``/_local/.../expire``, NEW or PENDING only) -> EXPIRED,
  ``charge:failed``; ``/_local/.../resolve`` (UNRESOLVED only) -> RESOLVED with context MANUAL,
  ``charge:resolved``; cancel (NEW only) -> CANCELED, no event. Every charge sends
  ``charge:created``.
* **Webhooks** go to every endpoint (``--webhook``, ``POST /_local/webhook_endpoints``) as
  Commerce sends them: ``{"id", "scheduled_for", "attempt_number", "event": {"id", "resource",
  "type", "api_version", "created_at", "data": <charge snapshot>}}``, compact JSON, with
  ``X-CC-Webhook-Signature`` = hex HMAC-SHA256 of the exact body keyed by the shared secret.
  Delivery runs on background threads (3 attempts; a retry carries the next ``attempt_number``
  and its own signature), never delaying an API call. ``POST /_local/events/<id>/resend``
  sends the first attempt's bytes and signature again; ``GET /_local/events`` lists sent events
  newest first.
* **State** is in memory behind one lock that each request holds throughout.

Run ``python -m infra.local.coinbase_server --port 12112 --api-key K --webhook-secret S
[--webhook URL ...]``; pay from a shell with ``python -m infra.local.coinbase_server pay <id or
code> [--amount 10.00] --url http://127.0.0.1:12112``. In process: ``create_app(api_key,
webhook_secret, webhooks)``; the store is ``app.extensions[EXTENSION_KEY]``, ``.close()`` stops
its threads.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hmac
import html
import json
import logging
import re
import secrets
import string
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from hashlib import sha256
from typing import Any

import flask
import httpx
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from infra.local.serving import configure_logging, serve_until_signalled

log = logging.getLogger("relay.coinbase_local")

EXTENSION_KEY = "relay_coinbase_local"
DEFAULT_PORT = 12112
API_VERSION = "2018-03-22"
USER_AGENT = "weipay-webhooks"  # what Commerce's webhook sender calls itself
CENTS = Decimal("0.01")
MAX_NAME, MAX_DESCRIPTION = 100, 200
MAX_LIMIT, DEFAULT_LIMIT = 100, 25
OPEN = frozenset({"NEW", "PENDING"})

Handler = Callable[..., tuple[int, Any]]


@dataclass(frozen=True)
class ServerConfig:
    api_version: str = API_VERSION
    charge_ttl_s: float = 3600.0
    # Pauses between the 3 delivery attempts (Commerce waits much longer; tests cannot).
    webhook_retry_delays: tuple[float, ...] = (0.5, 1.0)
    webhook_timeout_s: float = 10.0
    public_url: str | None = None  # base of hosted_url; None: the request's host
    expiry_sweep_s: float = 1.0


class CommerceError(Exception):
    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message}}


def invalid(message: str) -> CommerceError:
    return CommerceError(400, "invalid_request", message)


def not_found() -> CommerceError:
    return CommerceError(404, "not_found", "Not found")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: Decimal) -> str:
    return str(amount.quantize(CENTS))


def parse_amount(value: Any, what: str) -> Decimal:
    """A positive USD amount given as a string with at most two decimals."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", value.strip()):
        raise invalid(f'{what} must be a string like "10.00"')
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise invalid(f'{what} must be a string like "10.00"') from None
    if amount <= 0:
        raise invalid(f"{what} must be greater than 0")
    return amount


# -- webhooks --------------------------------------------------------------------------------


def signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, sha256).hexdigest()


@dataclass
class SentEvent:
    id: str
    type: str
    charge_id: str
    created_at: str
    delivery: dict[str, Any]  # the webhook body; attempt_number varies per attempt
    body: bytes  # the first attempt's exact bytes, resent as they are


class Deliverer:
    """Posts signed webhook bodies to endpoints from worker threads, with retries."""

    def __init__(self, secret: str, retry_delays: tuple[float, ...], timeout_s: float) -> None:
        self._secret = secret
        self._retry_delays = retry_delays
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="coinbase-webhook")
        self._client = httpx.Client(timeout=timeout_s)
        self._stop = threading.Event()
        self._log_lock = threading.Lock()
        self._attempts: dict[str, list[dict[str, Any]]] = {}

    def submit(self, sent: SentEvent, url: str) -> None:
        if not self._stop.is_set():
            with contextlib.suppress(RuntimeError):  # the pool shut down meanwhile
                self._pool.submit(self._deliver_logged, sent, url)

    def attempts(self, event_id: str) -> list[dict[str, Any]]:
        with self._log_lock:
            return [dict(a) for a in self._attempts.get(event_id, [])]

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _deliver_logged(self, sent: SentEvent, url: str) -> None:
        try:
            self._deliver(sent, url)
        except Exception:
            log.exception("webhook %s -> %s: delivery crashed", sent.id, url)

    def _deliver(self, sent: SentEvent, url: str) -> None:
        for attempt, delay in enumerate((*self._retry_delays, None), start=1):
            if self._stop.is_set():
                return
            body = sent.body
            if attempt > 1:
                retry = {**sent.delivery, "attempt_number": attempt}
                body = json.dumps(retry, separators=(",", ":")).encode()
            status, error = self._post(body, url)
            with self._log_lock:
                self._attempts.setdefault(sent.id, []).append(
                    {"url": url, "attempt": attempt, "status": status, "error": error}
                )
            if status is not None and 200 <= status < 300:
                return
            log.warning("webhook %s -> %s attempt %d: %s", sent.id, url, attempt, error or status)
            if delay is None or self._stop.wait(delay):
                return

    def _post(self, body: bytes, url: str) -> tuple[int | None, str | None]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-CC-Webhook-Signature": signature(body, self._secret),
        }
        try:
            response = self._client.post(url, content=body, headers=headers)
        except Exception as exc:  # any failure is a failed attempt; the thread goes on
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None


# -- state and charge transitions --------------------------------------------------------------


@dataclass
class Store:
    config: ServerConfig
    deliverer: Deliverer
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id, creation order
    codes: dict[str, str] = field(default_factory=dict)  # code -> id
    expiry: dict[str, float] = field(default_factory=dict)  # id -> unix expires_at
    events: dict[str, SentEvent] = field(default_factory=dict)  # sent order
    endpoints: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.stopping.set()
        self.deliverer.close()

    def find(self, key: str) -> dict[str, Any]:
        charge = self.charges.get(key) or self.charges.get(self.codes.get(key.upper(), ""))
        if charge is None:
            raise not_found()
        return charge

    def emit(self, event_type: str, charge: dict[str, Any]) -> None:
        at = time.time()
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "resource": "event",
            "type": event_type,
            "api_version": self.config.api_version,
            "created_at": iso(at),
            "data": copy.deepcopy(charge),
        }
        delivery = {
            "id": str(uuid.uuid4()),
            "scheduled_for": iso(at),
            "attempt_number": 1,
            "event": event,
        }
        body = json.dumps(delivery, separators=(",", ":")).encode()
        sent = SentEvent(event["id"], event_type, charge["id"], event["created_at"], delivery, body)
        self.events[sent.id] = sent
        for url in self.endpoints:
            self.deliverer.submit(sent, url)

    def resend(self, event_id: str) -> list[str]:
        sent = self.events.get(event_id)
        if sent is None:
            raise not_found()
        for url in self.endpoints:
            self.deliverer.submit(sent, url)
        return list(self.endpoints)

    def expire_due(self) -> None:
        now = time.time()
        for charge_id, expires in self.expiry.items():
            charge = self.charges[charge_id]
            if expires <= now and status_of(charge) in OPEN and not charge["payments"]:
                self.move(charge, "EXPIRED", event="charge:failed")

    def move(
        self,
        charge: dict[str, Any],
        status: str,
        *,
        event: str | None,
        context: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {"time": iso(time.time()), "status": status}
        if context is not None:
            entry["context"] = context
        charge["timeline"].append(entry)
        if event is not None:
            self.emit(event, charge)


def status_of(charge: dict[str, Any]) -> str:
    return str(charge["timeline"][-1]["status"])


def context_of(charge: dict[str, Any]) -> str | None:
    return charge["timeline"][-1].get("context")


def _optional_url(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"https?://", value):
        raise invalid(f"{name} must be an http(s) URL")
    return value


def create_charge(store: Store, body: dict[str, Any], base_url: str) -> dict[str, Any]:
    known = {
        "name",
        "description",
        "pricing_type",
        "local_price",
        "metadata",
        "redirect_url",
        "cancel_url",
    }
    unknown = sorted(set(body) - known)
    if unknown:
        raise invalid(f"Unknown parameter: {unknown[0]}")
    name, description = body.get("name"), body.get("description")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise invalid(f"name is required (a string of at most {MAX_NAME} characters)")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise invalid(f"description is required (at most {MAX_DESCRIPTION} characters)")
    if body.get("pricing_type") != "fixed_price":
        raise invalid("pricing_type must be fixed_price")
    price = body.get("local_price")
    if not isinstance(price, dict) or not {"amount", "currency"} <= set(price):
        raise invalid('local_price is required: {"amount": "10.00", "currency": "USD"}')
    if price["currency"] != "USD":
        raise invalid("local_price.currency must be USD")
    amount = parse_amount(price["amount"], "local_price.amount")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise invalid("metadata must be an object of strings")
    redirect_url, cancel_url = (
        _optional_url(body, "redirect_url"),
        _optional_url(body, "cancel_url"),
    )
    code = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
    while code in store.codes:
        code = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
    now = time.time()
    charge: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "resource": "charge",
        "code": code,
        "name": name,
        "description": description,
        "hosted_url": f"{base_url.rstrip('/')}/pay/{code}",
        "created_at": iso(now),
        "expires_at": iso(now + store.config.charge_ttl_s),
        "confirmed_at": None,
        "pricing_type": "fixed_price",
        "pricing": {"local": {"amount": money(amount), "currency": "USD"}},
        "payments": [],
        "timeline": [{"time": iso(now), "status": "NEW"}],
        "metadata": dict(metadata),
        "redirect_url": redirect_url,
        "cancel_url": cancel_url,
    }
    store.charges[charge["id"]] = charge
    store.codes[code] = charge["id"]
    store.expiry[charge["id"]] = now + store.config.charge_ttl_s
    store.emit("charge:created", charge)
    return charge


def pay_charge(store: Store, charge: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    price = Decimal(charge["pricing"]["local"]["amount"])
    raw_amount = body.get("amount")
    amount = price if raw_amount in (None, "") else parse_amount(raw_amount, "amount")
    pending_first = body.get("pending_first") in (True, "true", "1", "on")
    now = time.time()
    payment: dict[str, Any] = {
        "network": "base",
        "transaction_id": "0x" + secrets.token_hex(32),
        "status": "CONFIRMED",
        "detected_at": iso(now),
        "value": {
            "local": {"amount": money(amount), "currency": "USD"},
            "crypto": {"amount": money(amount), "currency": "USDC"},
        },
    }
    status, context = status_of(charge), context_of(charge)
    reopenable = status in OPEN or (status, context) == ("UNRESOLVED", "UNDERPAID")
    past_expiry = store.expiry[charge["id"]] <= now
    expired = status in ("EXPIRED", "CANCELED") or (reopenable and past_expiry)
    if expired:
        charge["payments"].append(payment)
        store.move(charge, "UNRESOLVED", context="DELAYED", event="charge:delayed")
        return charge
    if not reopenable:
        charge["payments"].append(payment)
        store.move(charge, "UNRESOLVED", context="MULTIPLE", event="charge:failed")
        return charge
    if pending_first and status == "NEW":
        charge["payments"].append({**payment, "status": "PENDING"})
        store.move(charge, "PENDING", event="charge:pending")
        charge["payments"][-1] = payment
    else:
        charge["payments"].append(payment)
    paid = sum(
        (Decimal(p["value"]["local"]["amount"]) for p in charge["payments"]),
        Decimal(0),
    )
    if paid == price:
        charge["confirmed_at"] = iso(time.time())
        store.move(charge, "COMPLETED", event="charge:confirmed")
    else:
        context = "UNDERPAID" if paid < price else "OVERPAID"
        store.move(charge, "UNRESOLVED", context=context, event="charge:failed")
    return charge


def expire_charge(store: Store, charge: dict[str, Any]) -> dict[str, Any]:
    if status_of(charge) not in OPEN:
        raise invalid(f"Only NEW or PENDING charges can expire; this one is {status_of(charge)}")
    store.expiry[charge["id"]] = min(store.expiry[charge["id"]], time.time())
    charge["expires_at"] = iso(store.expiry[charge["id"]])
    store.move(charge, "EXPIRED", event="charge:failed")
    return charge


def resolve_charge(store: Store, charge: dict[str, Any]) -> dict[str, Any]:
    if status_of(charge) != "UNRESOLVED":
        raise invalid(f"Only UNRESOLVED charges can be resolved; this one is {status_of(charge)}")
    store.move(charge, "RESOLVED", context="MANUAL", event="charge:resolved")
    return charge


def cancel_charge(store: Store, charge: dict[str, Any]) -> dict[str, Any]:
    if status_of(charge) != "NEW" or charge["payments"]:
        raise invalid("Only NEW charges without payments can be canceled")
    store.move(charge, "CANCELED", event=None)
    return charge


def list_charges(store: Store, args: dict[str, str]) -> dict[str, Any]:
    try:
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise invalid("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit must be between 1 and {MAX_LIMIT}")
    order = args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("order must be asc or desc")
    ids = list(store.charges) if order == "asc" else list(reversed(store.charges))
    after, before = args.get("starting_after"), args.get("ending_before")
    for cursor in (after, before):
        if cursor is not None and cursor not in store.charges:
            raise invalid(f"No such charge: {cursor}")
    if after is not None:
        ids = ids[ids.index(after) + 1 :]
    if before is not None:
        ids = ids[: ids.index(before)][-limit:]
    page = ids[:limit]
    return {
        "pagination": {
            "order": order,
            "starting_after": after,
            "ending_before": before,
            "total": len(store.charges),
            "yielded": len(page),
            "limit": limit,
            "cursor_range": [page[0], page[-1]] if page else [],
            "previous_uri": None,
            "next_uri": f"/charges?limit={limit}&order={order}&starting_after={page[-1]}"
            if page and before is None and len(ids) > limit
            else None,
        },
        "data": [store.charges[i] for i in page],
    }


# -- HTTP ------------------------------------------------------------------------------------


def _json(status: int, obj: Any, headers: dict[str, str] | None = None) -> flask.Response:
    return flask.Response(
        json.dumps(obj, indent=2), status=status, mimetype="application/json", headers=headers
    )


def _body(*, json_only: bool = False) -> dict[str, Any]:
    """The request's JSON object; the local helpers and the hosted page also take a form."""
    request = flask.request
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise invalid("Request body must be a JSON object")
        return body
    if json_only or (request.get_data() and not request.form):
        raise invalid("Request body must be a JSON object (Content-Type: application/json)")
    return dict(request.form.items())


def create_app(
    api_key: str,
    webhook_secret: str,
    webhooks: Sequence[str] = (),
    config: ServerConfig | None = None,
) -> flask.Flask:
    config = config or ServerConfig()
    deliverer = Deliverer(webhook_secret, config.webhook_retry_delays, config.webhook_timeout_s)
    store = Store(config=config, deliverer=deliverer, endpoints=list(webhooks))
    app = flask.Flask("relay_coinbase_local")
    app.extensions[EXTENSION_KEY] = store

    def sweep() -> None:
        while not store.stopping.wait(config.expiry_sweep_s):
            with store.lock:
                try:
                    store.expire_due()
                except Exception:  # a failed sweep must not stop later ones
                    log.exception("coinbase-local: expiry sweep failed")

    threading.Thread(target=sweep, name="coinbase-local-expiry", daemon=True).start()

    def base_url() -> str:
        return config.public_url or flask.request.host_url

    def route(rule: str, method: str, *, authed: bool) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            def view(**path_args: str) -> flask.Response:
                headers = {"X-CC-Version": config.api_version}
                try:
                    if authed:
                        presented = flask.request.headers.get("X-CC-Api-Key", "")
                        if not hmac.compare_digest(presented.encode(), api_key.encode()):
                            raise CommerceError(401, "authentication_error", "No such API key.")
                    with store.lock:
                        store.expire_due()
                        status, result = handler(**path_args)
                    return _json(status, result, headers)
                except CommerceError as exc:
                    return _json(exc.status, exc.body(), headers)
                except Exception:
                    log.exception("coinbase-local: %s %s failed", method, flask.request.path)
                    body = {"error": {"type": "internal_server_error", "message": "Server error"}}
                    return _json(500, body, headers)

            app.add_url_rule(rule, endpoint=f"{method} {rule}", view_func=view, methods=[method])
            return handler

        return register

    # -- the Charges API ---------------------------------------------------------------------

    @route("/charges", "POST", authed=True)
    def create(**_: str) -> tuple[int, Any]:
        return 201, {"data": create_charge(store, _body(json_only=True), base_url())}

    @route("/charges", "GET", authed=True)
    def list_(**_: str) -> tuple[int, Any]:
        return 200, list_charges(store, dict(flask.request.args.items()))

    @route("/charges/<key>", "GET", authed=True)
    def retrieve(key: str) -> tuple[int, Any]:
        return 200, {"data": store.find(key)}

    @route("/charges/<key>/cancel", "POST", authed=True)
    def cancel(key: str) -> tuple[int, Any]:
        return 200, {"data": cancel_charge(store, store.find(key))}

    # -- local customer and test helpers (no API key) ----------------------------------------

    @route("/_local/charges/<key>/pay", "POST", authed=False)
    def pay(key: str) -> tuple[int, Any]:
        return 200, {"data": pay_charge(store, store.find(key), _body())}

    @route("/_local/charges/<key>/expire", "POST", authed=False)
    def expire(key: str) -> tuple[int, Any]:
        return 200, {"data": expire_charge(store, store.find(key))}

    @route("/_local/charges/<key>/resolve", "POST", authed=False)
    def resolve(key: str) -> tuple[int, Any]:
        return 200, {"data": resolve_charge(store, store.find(key))}

    @route("/_local/events", "GET", authed=False)
    def events(**_: str) -> tuple[int, Any]:
        wanted_charge, wanted_type = (
            flask.request.args.get("charge"),
            flask.request.args.get("type"),
        )
        data = [
            {"id": e.id, "type": e.type, "charge_id": e.charge_id, "created_at": e.created_at}
            for e in reversed(store.events.values())
            if wanted_charge in (None, e.charge_id) and wanted_type in (None, e.type)
        ]
        return 200, {"data": data}

    @route("/_local/events/<eid>", "GET", authed=False)
    def event(eid: str) -> tuple[int, Any]:
        sent = store.events.get(eid)
        if sent is None:
            raise not_found()
        return 200, {"data": sent.delivery["event"], "deliveries": deliverer.attempts(eid)}

    @route("/_local/events/<eid>/resend", "POST", authed=False)
    def resend(eid: str) -> tuple[int, Any]:
        return 200, {"data": {"event": eid, "endpoints": store.resend(eid)}}

    @route("/_local/webhook_endpoints", "POST", authed=False)
    def add_endpoint(**_: str) -> tuple[int, Any]:
        url = _body().get("url")
        if not isinstance(url, str) or not re.match(r"https?://", url):
            raise invalid("url must be an http(s) URL")
        if url not in store.endpoints:
            store.endpoints.append(url)
        return 200, {"data": list(store.endpoints)}

    @route("/_local/webhook_endpoints", "GET", authed=False)
    def list_endpoints(**_: str) -> tuple[int, Any]:
        return 200, {"data": list(store.endpoints)}

    @route("/_local/health", "GET", authed=False)
    def health(**_: str) -> tuple[int, Any]:
        return 200, {"status": "ok"}

    # -- the hosted page a person opens ------------------------------------------------------

    @app.get("/pay/<code>")
    def hosted_page(code: str) -> flask.Response:
        with store.lock:
            store.expire_due()
            try:
                charge = store.find(code)
            except CommerceError:
                return _page("Not found", "<p>No such charge.</p>", 404)
            return _page(charge["name"], _charge_html(charge))

    @app.post("/pay/<code>")
    def hosted_pay(code: str) -> Response:
        with store.lock:
            try:
                charge = pay_charge(store, store.find(code), _body())
            except CommerceError as exc:
                return _page("Payment not possible", f"<p>{html.escape(exc.message)}</p>", 400)
        if status_of(charge) == "COMPLETED" and charge["redirect_url"]:
            return flask.redirect(charge["redirect_url"], 303)
        return _page(charge["name"], _charge_html(charge))

    @app.errorhandler(HTTPException)
    def unrouted(exc: HTTPException) -> flask.Response:
        if exc.code in (404, 405):
            return _json(404, not_found().body())
        return _json(exc.code or 500, {"error": {"type": "invalid_request", "message": exc.name}})

    return app


def _page(title: str, body: str, status: int = 200) -> flask.Response:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - Coinbase Commerce (local)</title></head>"
        "<body style='font-family:sans-serif;max-width:32rem;margin:3rem auto'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return flask.Response(text, status=status, mimetype="text/html")


def _charge_html(charge: dict[str, Any]) -> str:
    price = charge["pricing"]["local"]["amount"]
    status, context = status_of(charge), context_of(charge)
    parts = [
        f"<p>{html.escape(charge['description'])}</p>",
        f"<p>Amount: <strong>${html.escape(price)} USD</strong> (USDC)</p>",
        f"<p>Status: <strong>{status}{f' ({context})' if context else ''}</strong></p>",
    ]
    if status == "NEW" or (status, context) == ("UNRESOLVED", "UNDERPAID"):
        parts.append(
            f"<form method='post' action='/pay/{charge['code']}'>"
            f"<label>Pay USD <input name='amount' value='{html.escape(price)}'></label> "
            "<button type='submit'>Pay with crypto</button></form>"
        )
        if charge["cancel_url"]:
            parts.append(f"<p><a href='{html.escape(charge['cancel_url'])}'>Cancel</a></p>")
    elif charge["redirect_url"]:
        parts.append(f"<p><a href='{html.escape(charge['redirect_url'])}'>Continue</a></p>")
    return "".join(parts)


# -- CLI --------------------------------------------------------------------------------------

# name -> (local path template, id argument help)
HELPERS: dict[str, tuple[str, str]] = {
    "pay": ("/_local/charges/{}/pay", "charge id or code"),
    "expire": ("/_local/charges/{}/expire", "charge id or code"),
    "resolve": ("/_local/charges/{}/resolve", "charge id or code"),
    "resend": ("/_local/events/{}/resend", "event id"),
}


def _helper(argv: list[str]) -> int:
    name = argv[0]
    template, id_help = HELPERS[name]
    parser = argparse.ArgumentParser(prog=f"python -m infra.local.coinbase_server {name}")
    parser.add_argument("object_id", help=id_help)
    parser.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="server URL")
    if name == "pay":
        parser.add_argument("--amount", help="USD, e.g. 10.00 (default: the charge's price)")
        parser.add_argument("--pending-first", action="store_true", help="send charge:pending")
    args = parser.parse_args(argv[1:])
    body: dict[str, Any] = {}
    if name == "pay":
        body = {"pending_first": args.pending_first}
        if args.amount:
            body["amount"] = args.amount
    try:
        response = httpx.post(args.url.rstrip("/") + template.format(args.object_id), json=body)
    except httpx.HTTPError as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(response.json(), indent=2))
    return 0 if response.is_success else 1


def _parse_delays(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


def _serve(argv: list[str]) -> int:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.coinbase_server",
        description="Local Coinbase Commerce server. Helpers: "
        + ", ".join(f"'{name} <id> --url URL'" for name in HELPERS),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--api-key", required=True, help="the X-CC-Api-Key clients must send")
    parser.add_argument("--webhook-secret", required=True, help="the shared webhook secret")
    parser.add_argument(
        "--webhook", action="append", default=[], metavar="URL", help="endpoint (repeatable)"
    )
    parser.add_argument("--public-url", help="base of hosted_url (default: request host)")
    parser.add_argument("--charge-ttl-s", type=float, default=defaults.charge_ttl_s)
    parser.add_argument(
        "--webhook-retry-delays",
        type=_parse_delays,
        default=defaults.webhook_retry_delays,
        help="comma-separated seconds between delivery attempts (default 0.5,1 = 3 attempts)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    configure_logging(access_log=args.access_log)
    config = ServerConfig(
        charge_ttl_s=args.charge_ttl_s,
        webhook_retry_delays=args.webhook_retry_delays,
        public_url=args.public_url,
    )
    app = create_app(args.api_key, args.webhook_secret, args.webhook, config)
    store: Store = app.extensions[EXTENSION_KEY]
    return serve_until_signalled(
        app,
        host=args.host,
        port=args.port,
        name="coinbase-local",
        close=store.close,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in HELPERS:
        return _helper(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
