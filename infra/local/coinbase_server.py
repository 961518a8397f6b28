"""A stateful local stand-in for Coinbase Commerce's (legacy) Charges API and its webhooks.

Relay's production adapter (``shared/providers/coinbase.py``) talks to this server unchanged; only
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
its threads. The pieces live in ``infra/local/coinbase/``: the charge semantics above in
charges.py, state and events in store.py, delivery in webhooks.py, the hosted page in pages.py.
"""

from __future__ import annotations

import argparse
import hmac
import html
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import flask
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from infra.local.coinbase import pages
from infra.local.coinbase.charges import (
    cancel_charge,
    create_charge,
    expire_charge,
    list_charges,
    pay_charge,
    resolve_charge,
)
from infra.local.coinbase.store import Store, status_of
from infra.local.coinbase.webhooks import Deliverer
from infra.local.coinbase.wire import CommerceError, invalid, not_found
from infra.local.serving import (
    configure_logging,
    post_helper,
    provider_parser,
    serve_until_signalled,
)

log = logging.getLogger("relay.coinbase_local")

EXTENSION_KEY = "relay_coinbase_local"
DEFAULT_PORT = 12112
API_VERSION = "2018-03-22"

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
    store = Store(
        api_version=config.api_version,
        charge_ttl_s=config.charge_ttl_s,
        deliverer=deliverer,
        endpoints=list(webhooks),
    )
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
                return pages.page("Not found", "<p>No such charge.</p>", 404)
            return pages.page(charge["name"], pages.charge_html(charge))

    @app.post("/pay/<code>")
    def hosted_pay(code: str) -> Response:
        with store.lock:
            try:
                charge = pay_charge(store, store.find(code), _body())
            except CommerceError as exc:
                return pages.page("Payment not possible", f"<p>{html.escape(exc.message)}</p>", 400)
        if status_of(charge) == "COMPLETED" and charge["redirect_url"]:
            return flask.redirect(charge["redirect_url"], 303)
        return pages.page(charge["name"], pages.charge_html(charge))

    @app.errorhandler(HTTPException)
    def unrouted(exc: HTTPException) -> flask.Response:
        if exc.code in (404, 405):
            return _json(404, not_found().body())
        return _json(exc.code or 500, {"error": {"type": "invalid_request", "message": exc.name}})

    return app


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
    return post_helper(args.url, template.format(args.object_id), json=body)


def _serve(argv: list[str]) -> int:
    defaults = ServerConfig()
    parser = provider_parser(
        prog="python -m infra.local.coinbase_server",
        description="Local Coinbase Commerce server. Helpers: "
        + ", ".join(f"'{name} <id> --url URL'" for name in HELPERS),
        port=DEFAULT_PORT,
        key_help="the X-CC-Api-Key clients must send",
        secret_help="the shared webhook secret",
        retry_delays=defaults.webhook_retry_delays,
    )
    parser.add_argument("--charge-ttl-s", type=float, default=defaults.charge_ttl_s)
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
