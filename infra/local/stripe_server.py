"""A stateful local stand-in for Stripe's API, speaking Stripe's own wire format.

Relay's production code uses the real ``stripe`` SDK; pointing ``stripe.api_base`` (or a
``StripeClient``'s ``base_addresses={"api": url}``) at this server is the only change it needs.
There is no stripe-mock in our registries and ``localstripe`` lacks Checkout Sessions, so this
reimplements exactly the resources Relay uses (helpers in ``infra/local/stripe/``).

What the server guarantees:

* **Wire format.** Requests are form-encoded with Stripe's bracket notation (``metadata[k]=v``,
  ``line_items[0][price_data][unit_amount]=500``, ``expand[]=x`` or ``expand[0]=x``), in the
  body for POST and the query string for GET. Responses are Stripe objects (``"object"``,
  Stripe id prefixes, ``livemode: false``, unix ``created``), pretty-printed JSON with
  ``Request-Id`` and ``Stripe-Version`` headers. Every response parses in stripe==16.1.0.
* **Errors** use Stripe's envelope ``{"error": {"type", "message", "code", "param",
  "doc_url"}}`` and status codes: 401 for a missing or wrong secret key (``Bearer`` or basic
  auth), 403 ``account_invalid`` for an unknown ``Stripe-Account``, 404 ``resource_missing``
  for an unknown id or URL, 400 for a missing (``parameter_missing``), unknown
  (``parameter_unknown``) or malformed parameter, and 400 for a parameter whose behaviour is
  not emulated (``transfer_data``, ``price``, subscriptions, ...) rather than ignoring it.
  Nothing is changed by a request that fails.
* **Idempotency.** A POST with an ``Idempotency-Key`` that succeeded is replayed byte for byte
  (``Idempotent-Replayed: true``) when the same key comes again with the same method, path and
  parameters, without acting twice; the same key with other parameters is a 400
  ``idempotency_error``. Failed requests are not stored, so they may be retried with the key.
  Keys are scoped per account and kept for the server's lifetime (Stripe: 24 h).
* **Resources** (``/v1``): Checkout Sessions (create, retrieve, list, expire, line_items),
  PaymentIntents and Charges (retrieve, list), Refunds (create, retrieve, list), Disputes
  (retrieve, list), Customers (create, retrieve, list), Balance Transactions (retrieve),
  Events (retrieve, list newest first with ``type``/``types`` filters and ``*`` wildcards),
  Accounts (create, retrieve, update, list, ``GET /v1/account``, login links), Account Links,
  Transfers and Payouts (create, retrieve, list), Transfer Reversals (create). Lists
  paginate like Stripe (``limit``, ``starting_after``, ``ending_before``, ``created``);
  ``expand[]`` works on id fields.
  Objects belong to the account that created them (platform or ``Stripe-Account``).
* **Customer actions** happen through local pages and ``/_local`` helpers (no API key needed):
  paying a session (``GET /checkout/<id>`` page, ``POST /_local/checkout/<id>/complete``,
  optionally with ``card=<number>``: the Charge's card and its stable ``fingerprint``),
  finishing Connect onboarding (the Account Link page, ``POST /_local/accounts/<id>/onboard``),
  opening and closing disputes, settling payouts. The semantics are in payments.py and
  connect.py.
* **Webhooks.** Every event is POSTed to every configured endpoint (``--webhook``, or
  ``POST /_local/webhook_endpoints``) whose ``enabled_events`` match, as Stripe sends it: the
  Event object as JSON, signed ``Stripe-Signature: t=<ts>,v1=<hmac>`` with the endpoint secret
  so ``stripe.Webhook.construct_event`` verifies it; from background threads, 3 attempts,
  never delaying the API call. ``POST /_local/events/<id>/resend`` delivers the identical body
  again.
* **State** is in memory behind one lock that each request holds throughout, so requests are
  serialised. Open sessions expire at ``expires_at`` (checked every second and on each call).

Run ``python -m infra.local.stripe_server --port 12111 --api-key sk_test_local
--webhook-secret whsec_local [--webhook URL ...]``; pay a session from a shell with
``python -m infra.local.stripe_server complete <cs_test_...> --url http://127.0.0.1:12111``.
In process: ``create_app(api_key, webhook_secret, webhooks)``; the store is
``app.extensions[EXTENSION_KEY]`` and ``.close()`` stops its threads.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import flask
import stripe
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from infra.local.serving import (
    configure_logging,
    post_helper,
    provider_parser,
    serve_until_signalled,
)
from infra.local.stripe import connect, pages, payments
from infra.local.stripe.params import (
    EXPAND,
    Arr,
    Str,
    StripeError,
    Url,
    decode_pairs,
    invalid,
    no_such,
    parse,
)
from infra.local.stripe.routes import ROUTES, Handler, Route
from infra.local.stripe.store import Context, Saved, Store, new_id, now
from infra.local.stripe.webhooks import Deliverer

log = logging.getLogger("relay.stripe_local")

EXTENSION_KEY = "relay_stripe_local"
DEFAULT_PORT = 12111  # stripe-mock's customary port
MAX_IDEMPOTENCY_KEY_LEN = 255


@dataclass(frozen=True)
class ServerConfig:
    api_version: str = stripe.api_version  # what events carry; the SDK's pinned version
    # Pauses between the 3 delivery attempts (Stripe waits hours; tests cannot).
    webhook_retry_delays: tuple[float, ...] = (0.5, 1.0)
    webhook_timeout_s: float = 10.0
    # Base of the URLs handed out (checkout and onboarding pages); None: the request's host.
    public_url: str | None = None
    expiry_sweep_s: float = 1.0


# -- HTTP plumbing ----------------------------------------------------------------------------


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, indent=2).encode()


def _json_response(
    status: int, body: bytes, headers: dict[str, str] | None = None
) -> flask.Response:
    return flask.Response(body, status=status, mimetype="application/json", headers=headers)


def _presented_key() -> str | None:
    scheme, _, value = flask.request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        # Stripe's basic auth form: the key as user name, empty password.
        with contextlib.suppress(ValueError):
            return base64.b64decode(value.strip()).decode().partition(":")[0] or None
    return None


def _authenticate(api_key: str) -> None:
    presented = _presented_key()
    if presented is None:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or "
            "we can help at https://support.stripe.com/.",
        )
    if not hmac.compare_digest(presented.encode(), api_key.encode()):
        # Like Stripe, echo only the key's prefix and last four characters.
        masked = presented[:8] + "*" * max(len(presented) - 12, 4) + presented[-4:]
        raise StripeError(401, f"Invalid API Key provided: {masked}", code="api_key_invalid")


def _stringify(value: Any) -> Any:
    """A JSON body (accepted by the local helpers) in the shape form decoding produces."""
    if isinstance(value, dict):
        return {str(k): _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _read_params(*, allow_json: bool) -> dict[str, Any]:
    request = flask.request
    pairs = list(request.args.items(multi=True))
    if request.method in ("POST", "DELETE"):
        if request.mimetype == "application/json":
            if not allow_json:
                raise invalid(
                    "",
                    "Invalid request: the Stripe v1 API takes application/x-www-form-urlencoded "
                    "parameters, not JSON.",
                )
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise invalid("", "Invalid JSON body: expected an object.")
            return {**decode_pairs(pairs), **_stringify(body)}
        pairs += parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
    return decode_pairs(pairs)


def _headers(request_id: str, api_version: str) -> dict[str, str]:
    return {"Request-Id": request_id, "Stripe-Version": api_version}


def _internal_error(request_id: str, api_version: str) -> flask.Response:
    log.exception(
        "stripe-local: unhandled error in %s %s", flask.request.method, flask.request.path
    )
    body = {"error": {"type": "api_error", "message": "An unknown error occurred"}}
    # Retrying would crash the same way; tell the SDK not to (it retries 5xx by default).
    return _json_response(
        500, _dump(body), {**_headers(request_id, api_version), "Stripe-Should-Retry": "false"}
    )


def create_app(
    api_key: str,
    webhook_secret: str,
    webhooks: Sequence[str] = (),
    config: ServerConfig | None = None,
) -> flask.Flask:
    config = config or ServerConfig()
    store = Store(
        api_version=config.api_version,
        deliverer=Deliverer(config.webhook_retry_delays, config.webhook_timeout_s),
        public_url=config.public_url,
    )
    for url in webhooks:
        store.add_endpoint(url, webhook_secret)
    app = flask.Flask("relay_stripe_local")
    app.extensions[EXTENSION_KEY] = store

    def sweep() -> None:
        while not store.stopping.wait(config.expiry_sweep_s):
            with store.lock:
                try:
                    payments.expire_due(store)
                except Exception:  # a failed sweep must not stop later ones
                    log.exception("stripe-local: session expiry sweep failed")

    threading.Thread(target=sweep, name="stripe-local-expiry", daemon=True).start()

    # -- the /v1 API ------------------------------------------------------------------------

    def api_view(route: Route) -> Callable[..., flask.Response]:
        def view(**path_args: str) -> flask.Response:
            request = flask.request
            request_id = new_id("req_", 14)
            headers = _headers(request_id, config.api_version)
            idem = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            try:
                _authenticate(api_key)
                if idem is not None and len(idem) > MAX_IDEMPOTENCY_KEY_LEN:
                    raise invalid(
                        "", f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_LEN} characters."
                    )
                raw = _read_params(allow_json=False)
                expand = EXPAND.coerce(raw["expand"], "expand") if "expand" in raw else []
                with store.lock:
                    account = store.resolve_account_header(
                        request.headers.get("Stripe-Account"), api_key
                    )
                    fingerprint = json.dumps(raw, sort_keys=True)
                    if idem is not None:
                        saved = store.idempotency.get((account, idem))
                        if saved is not None:
                            return replay(saved, idem, request.path, fingerprint)
                        headers.update({"Idempotency-Key": idem, "Original-Request": request_id})
                    store.check_expand(route.result, expand)
                    payments.expire_due(store)
                    ctx = Context(account, request_id, idem, request.host_url)
                    body = _dump(
                        store.render(route.handler(store, ctx, raw, *path_args.values()), expand)
                    )
                    if idem is not None:
                        store.idempotency[(account, idem)] = Saved(
                            request.method, request.path, fingerprint, 200, body, request_id
                        )
                return _json_response(200, body, headers)
            except StripeError as exc:
                if exc.status == 401:
                    headers["WWW-Authenticate"] = 'Basic realm="Stripe"'
                return _json_response(exc.status, _dump(exc.body()), headers)
            except Exception:
                return _internal_error(request_id, config.api_version)

        return view

    def replay(saved: Saved, idem: str, path: str, fingerprint: str) -> flask.Response:
        if (saved.method, saved.path, saved.params) != (flask.request.method, path, fingerprint):
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{idem}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        headers = {
            **_headers(saved.request_id, config.api_version),
            "Idempotency-Key": idem,
            "Original-Request": saved.request_id,
            "Idempotent-Replayed": "true",
        }
        return _json_response(saved.status, saved.body, headers)

    for route in ROUTES:
        app.add_url_rule(
            route.rule,
            endpoint=f"{route.method} {route.rule}",
            view_func=api_view(route),
            methods=[route.method],
        )

    # -- local helpers (customer/bank/network actions; no API key) ---------------------------

    def local(rule: str, method: str = "POST") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            def view(**path_args: str) -> flask.Response:
                request_id = new_id("req_", 14)
                headers = _headers(request_id, config.api_version)
                try:
                    raw = _read_params(allow_json=True)
                    with store.lock:
                        body = _dump(handler(raw, *path_args.values()))
                    return _json_response(200, body, headers)
                except StripeError as exc:
                    return _json_response(exc.status, _dump(exc.body()), headers)
                except Exception:
                    return _internal_error(request_id, config.api_version)

            app.add_url_rule(rule, endpoint=f"{method} {rule}", view_func=view, methods=[method])
            return handler

        return register

    @local("/_local/checkout/<sid>/complete")
    def complete(raw: dict[str, Any], sid: str) -> dict[str, Any]:
        return payments.complete_checkout_session(store, sid, raw)

    @local("/_local/charges/<cid>/dispute")
    def dispute(raw: dict[str, Any], cid: str) -> dict[str, Any]:
        return payments.create_dispute(store, cid, raw)

    @local("/_local/disputes/<did>/close")
    def close_dispute(raw: dict[str, Any], did: str) -> dict[str, Any]:
        return payments.close_dispute(store, did, raw)

    @local("/_local/accounts/<aid>/onboard")
    def onboard(raw: dict[str, Any], aid: str) -> dict[str, Any]:
        return connect.onboard_account(store, aid, raw)

    @local("/_local/payouts/<pid>/settle")
    def settle(raw: dict[str, Any], pid: str) -> dict[str, Any]:
        return connect.settle_payout(store, pid, raw)

    @local("/_local/webhook_endpoints")
    def add_endpoint(raw: dict[str, Any]) -> dict[str, Any]:
        p = parse(raw, {"url": Url(), "secret": Str(), "enabled_events": Arr(Str())})
        if "url" not in p:
            raise invalid("url", "Missing required param: url.", "parameter_missing")
        events = tuple(p.get("enabled_events") or ["*"])
        return store.add_endpoint(p["url"], p.get("secret", webhook_secret), events).view()

    @local("/_local/webhook_endpoints", "GET")
    def list_endpoints(raw: dict[str, Any]) -> dict[str, Any]:
        data = [e.view() for e in store.endpoints.values()]
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "url": "/_local/webhook_endpoints",
        }

    @local("/_local/webhook_endpoints/<wid>", "DELETE")
    def delete_endpoint(raw: dict[str, Any], wid: str) -> dict[str, Any]:
        if store.endpoints.pop(wid, None) is None:
            raise no_such("webhook_endpoint", wid)
        return {"id": wid, "object": "webhook_endpoint", "deleted": True}

    @local("/_local/events/<eid>/resend")
    def resend(raw: dict[str, Any], eid: str) -> dict[str, Any]:
        p = parse(raw, {"endpoint": Str()})
        targets = store.resend(eid, p.get("endpoint"))
        return {
            "object": "event_resend",
            "event": eid,
            "webhook_endpoints": [e.id for e in targets],
        }

    @local("/_local/events/<eid>/deliveries", "GET")
    def deliveries(raw: dict[str, Any], eid: str) -> dict[str, Any]:
        store.find_or_404("event", eid)
        url = f"/_local/events/{eid}/deliveries"
        return {
            "object": "list",
            "data": store.deliverer.attempts(eid),
            "has_more": False,
            "url": url,
        }

    @local("/_local/health", "GET")
    def health(raw: dict[str, Any]) -> dict[str, Any]:
        return {"status": "ok", "platform_account": store.platform["id"]}

    # -- pages a person opens in a browser ----------------------------------------------------

    def html(text: str, status: int = 200) -> flask.Response:
        return flask.Response(text, status=status, mimetype="text/html")

    @app.get("/checkout/<sid>")
    def checkout_page(sid: str) -> flask.Response:
        with store.lock:
            payments.expire_due(store)
            rec = store.find("checkout.session", sid)
            if rec is None:
                return html(pages.message("Not found", f"No such Checkout Session: {sid}"), 404)
            items = store.private[sid]["line_items"]
            return html(pages.checkout(rec.obj, items, f"/checkout/{sid}/pay"))

    @app.post("/checkout/<sid>/pay")
    def checkout_pay(sid: str) -> Response:
        form = {k: v for k, v in flask.request.form.items() if k in ("email", "name", "card") and v}
        with store.lock:
            try:
                session = payments.complete_checkout_session(store, sid, form)
            except StripeError as exc:
                return html(pages.message("Payment not possible", exc.message), exc.status)
        if session.get("success_url"):
            return flask.redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", sid), 303)
        return html(pages.paid(session))

    @app.get("/connect/onboard/<token>")
    def onboarding_page(token: str) -> Response:
        with store.lock:
            link = connect.account_link(store, token)
            if link is None:
                return html(pages.message("Not found", "This link does not exist."), 404)
            # Account Links are single-use and short-lived; Stripe sends stale ones to refresh_url.
            if link["visited"] or link["expires_at"] < now():
                if link["refresh_url"]:
                    return flask.redirect(link["refresh_url"], 303)
                return html(pages.message("Link expired", "Ask for a new onboarding link."), 410)
            link["visited"] = True
            account = store.connected_account(link["account"])
            assert account is not None
            return html(pages.onboarding(account, f"/connect/onboard/{token}/submit"))

    @app.post("/connect/onboard/<token>/submit")
    def onboarding_submit(token: str) -> Response:
        with store.lock:
            link = connect.account_link(store, token)
            if link is None:
                return html(pages.message("Not found", "This link does not exist."), 404)
            connect.onboard_account(store, link["account"], {})
        if link["return_url"]:
            return flask.redirect(link["return_url"], 303)
        return html(pages.message("Onboarding complete", "You can close this page."))

    @app.get("/connect/dashboard/<aid>")
    def dashboard_page(aid: str) -> flask.Response:
        return html(pages.message("Express dashboard", f"Local dashboard for {aid}."))

    @app.errorhandler(HTTPException)
    def unrouted(exc: HTTPException) -> flask.Response:
        request = flask.request
        if exc.code in (404, 405):
            # Stripe answers both an unknown path and a wrong method this way.
            message = (
                f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/."
            )
            return _json_response(404, _dump(StripeError(404, message).body()))
        body = StripeError(exc.code or 500, exc.description or exc.name).body()
        return _json_response(exc.code or 500, _dump(body))

    return app


# -- CLI --------------------------------------------------------------------------------------

# name -> (local path template, id argument help, extra options as (flag, form field))
HELPERS: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "complete": (
        "/_local/checkout/{}/complete",
        "Checkout Session id (cs_test_...)",
        (("--email", "email"), ("--name", "name"), ("--card", "card")),
    ),
    "onboard": ("/_local/accounts/{}/onboard", "connected account id (acct_...)", ()),
    "dispute": (
        "/_local/charges/{}/dispute",
        "charge id (ch_...)",
        (("--amount", "amount"), ("--reason", "reason")),
    ),
    "resend": ("/_local/events/{}/resend", "event id (evt_...)", (("--endpoint", "endpoint"),)),
}


def _helper(argv: list[str]) -> int:
    name = argv[0]
    template, id_help, options = HELPERS[name]
    parser = argparse.ArgumentParser(prog=f"python -m infra.local.stripe_server {name}")
    parser.add_argument("object_id", help=id_help)
    parser.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="server URL")
    for flag, _field in options:
        parser.add_argument(flag)
    args = parser.parse_args(argv[1:])
    form = {f: getattr(args, flag[2:]) for flag, f in options if getattr(args, flag[2:])}
    return post_helper(args.url, template.format(args.object_id), data=form)


def _serve(argv: list[str]) -> int:
    defaults = ServerConfig()
    parser = provider_parser(
        prog="python -m infra.local.stripe_server",
        description="Local Stripe API server. Helpers: "
        + ", ".join(f"'{name} <id> --url URL'" for name in HELPERS),
        port=DEFAULT_PORT,
        key_help="the secret key clients must send",
        secret_help="signing secret (whsec_...)",
        retry_delays=defaults.webhook_retry_delays,
    )
    parser.add_argument("--api-version", default=defaults.api_version)
    args = parser.parse_args(argv)

    configure_logging(access_log=args.access_log)
    config = ServerConfig(
        api_version=args.api_version,
        webhook_retry_delays=args.webhook_retry_delays,
        public_url=args.public_url,
    )
    app = create_app(args.api_key, args.webhook_secret, args.webhook, config)
    store: Store = app.extensions[EXTENSION_KEY]
    return serve_until_signalled(
        app,
        host=args.host,
        port=args.port,
        name="stripe-local",
        close=store.close,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in HELPERS:
        return _helper(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
