"""Inbound payment webhooks. Verified before anything is read from them."""

import flask
import functions_framework

from functions.http import entry_point, json_response
from functions.internal import render_error
from shared import stripe_gateway
from shared.grid import boost


def stripe_event(request: flask.Request) -> flask.Response:
    event = stripe_gateway.verified_event(
        request.get_data(), request.headers.get("Stripe-Signature")
    )
    outcome = "ignored"
    if event["type"] == "checkout.session.completed":
        outcome = boost.apply_payment(event["data"]["object"])
    return json_response({"received": True, "outcome": outcome})


_handle = entry_point([("POST", "/", stripe_event)], render_error)


@functions_framework.http
def stripe_webhook(request: flask.Request) -> flask.Response:
    return _handle(request)
