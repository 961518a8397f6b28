"""Inbound payment webhooks. Verified before anything is read from them.

One Stripe endpoint serves the whole platform (the grid's priority boost and Killa Tamata
top-ups tell their sessions apart by `metadata.purpose`; Tarsify's creator payouts follow
their `transfer.*` events); it is reachable as the function itself and as Killa Tamata's
documented `/api/v1/webhooks/stripe`. Coinbase Commerce events arrive at
`/api/v1/webhooks/crypto`.
"""

import flask
import functions_framework

from functions.http import entry_point, json_response
from functions.internal import render_error
from functions.media.site import render_error as render_media_error
from shared.engine.errors import AppError
from shared.grid import boost
from shared.market import payout_events
from shared.media import coinbase_topups, stripe_topups
from shared.providers import coinbase as coinbase_gateway
from shared.providers import stripe as stripe_gateway


def stripe_event(request: flask.Request) -> flask.Response:
    event = stripe_gateway.verified_event(
        request.get_data(), request.headers.get("Stripe-Signature")
    )
    outcome = stripe_topups.stripe_event(event)
    if outcome == "ignored" and event["type"] == "checkout.session.completed":
        outcome = boost.apply_payment(event["data"]["object"])
    if outcome == "ignored" and event["type"].startswith("transfer."):
        outcome = payout_events.transfer_event(event)
    return json_response({"received": True, "outcome": outcome})


def coinbase_event(request: flask.Request) -> flask.Response:
    event = coinbase_gateway.verified_event(
        request.get_data(), request.headers.get("X-CC-Webhook-Signature")
    )
    return json_response({"received": True, "outcome": coinbase_topups.coinbase_event(event)})


def _render(exc: AppError) -> flask.Response:
    """Killa Tamata's envelope on its documented paths, the internal one elsewhere."""
    site = flask.request.path.startswith("/api/v1/")
    return (render_media_error if site else render_error)(exc)


_stripe = entry_point(
    [("POST", "/", stripe_event), ("POST", "/api/v1/webhooks/stripe", stripe_event)], _render
)
_coinbase = entry_point(
    [("POST", "/", coinbase_event), ("POST", "/api/v1/webhooks/crypto", coinbase_event)],
    _render,
)


@functions_framework.http
def stripe_webhook(request: flask.Request) -> flask.Response:
    return _stripe(request)


@functions_framework.http
def coinbase_webhook(request: flask.Request) -> flask.Response:
    return _coinbase(request)
