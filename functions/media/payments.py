"""Killa Tamata top-ups: /api/v1/checkout/*, /api/v1/claim/*, and x402 purchases."""

from __future__ import annotations

import flask
import functions_framework

from functions.http import client_network, entry_point, json_response, parse_body
from functions.media.site import Caller, authenticate, render_error
from shared.engine import identity, ratelimit
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.media import affiliates, coinbase_topups, stripe_topups, views, x402_purchase


def _limit(request: flask.Request, caller: Caller, action: str) -> None:
    ratelimit.limit(action, network=client_network(request), account_id=caller.account_id)


def _site_url(path: str) -> str:
    return f"{get_settings().media_public_url.rstrip('/')}{path}"


def checkout_stripe(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    _limit(request, caller, "checkout")
    body = parse_body(request, views.StripeCheckoutRequest)
    referrer = affiliates.purchase_referrer(account_id=caller.account_id, code=body.affiliateCode)
    account = identity.get_account(caller.account_id)
    result = stripe_topups.stripe_checkout(
        account_id=account.id,
        email=account.email,  # the deprecated `email` field never overrides the account's
        package_code=body.packageCode,
        success_url=str(body.successUrl or _site_url("/checkout/success")),
        cancel_url=str(body.cancelUrl or _site_url("/checkout/cancel")),
    )
    affiliates.bind_for_purchase(account_id=caller.account_id, affiliate=referrer)
    return json_response(result, 201)


def checkout_crypto(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    _limit(request, caller, "checkout")
    body = parse_body(request, views.CryptoCheckoutRequest)
    referrer = affiliates.purchase_referrer(account_id=caller.account_id, code=body.affiliateCode)
    result = coinbase_topups.coinbase_checkout(
        account_id=caller.account_id,
        package_code=body.packageCode,
        redirect_url=str(body.redirectUrl or _site_url("/checkout/success")),
        cancel_url=str(body.cancelUrl or _site_url("/checkout/cancel")),
    )
    affiliates.bind_for_purchase(account_id=caller.account_id, affiliate=referrer)
    return json_response(result, 201)


def claim_stripe(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = parse_body(request, views.ClaimStripeRequest)
    settlement = stripe_topups.claim_stripe(account_id=caller.account_id, session_id=body.sessionId)
    return json_response(settlement.public())


def claim_crypto(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = parse_body(request, views.ClaimCryptoRequest)
    settlement = coinbase_topups.claim_coinbase(
        account_id=caller.account_id, charge_id=body.chargeId
    )
    return json_response(settlement.public())


def purchase_x402(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    _limit(request, caller, "x402")
    body = parse_body(request, views.X402CreditPurchaseRequest)
    referrer = affiliates.purchase_referrer(account_id=caller.account_id, code=body.affiliateCode)
    outcome = x402_purchase.purchase(
        account_id=caller.account_id,
        usd_cents=body.usdCents,
        headers=request.headers,
        resource_url=_site_url(request.path),
    )
    if outcome.required_header is not None:
        response = render_error(
            AppError(ErrorKind.INSUFFICIENT_FUNDS, outcome.message, {"code": "payment_required"})
        )
        response.headers["PAYMENT-REQUIRED"] = outcome.required_header
        return response
    affiliates.bind_for_purchase(account_id=caller.account_id, affiliate=referrer)
    headers = {"PAYMENT-RESPONSE": outcome.response_header} if outcome.response_header else None
    return json_response(outcome.body, 201 if outcome.first else 200, headers)


_handle = entry_point(
    [
        ("POST", "/api/v1/checkout/stripe", checkout_stripe),
        ("POST", "/api/v1/checkout/crypto", checkout_crypto),
        ("POST", "/api/v1/claim/stripe", claim_stripe),
        ("POST", "/api/v1/claim/crypto", claim_crypto),
        ("POST", "/api/v1/credits/purchase/x402", purchase_x402),
        ("POST", "/api/v1/deposit/x402", purchase_x402),
    ],
    render_error,
)


@functions_framework.http
def media_payments(request: flask.Request) -> flask.Response:
    return _handle(request)
