"""Killa Tamata: /api/v1/keys, /api/v1/balance and the deprecated /api/v1/credits routes."""

from __future__ import annotations

import flask
import functions_framework

from functions.http import client_network, entry_point, json_response, parse_optional_body
from functions.media.site import authenticate, render_error
from shared.engine import identity, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.media import signin, views


def list_keys(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    return json_response(
        {"keys": [views.api_key_view(k) for k in identity.list_api_keys(caller.account_id)]}
    )


def create_key(request: flask.Request) -> flask.Response:
    body = parse_optional_body(request, views.CreateKeyRequest)
    if request.headers.get("Authorization") or body.idToken is None:
        account = identity.get_account(authenticate(request).account_id)
    else:
        account = signin.google_account(body.idToken)
    issued = signin.issue_key(account=account, label=body.label, network=client_network(request))
    key = identity.authenticate_key(issued.api_key)
    return json_response({"apiKey": issued.api_key, "key": views.api_key_view(key)}, 201)


def revoke_key(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = parse_optional_body(request, views.RevokeKeyRequest)
    if body.keyId is not None:
        key = identity.find_api_key(account_id=caller.account_id, key_id=body.keyId)
    elif caller.key is not None:
        key = caller.key
    else:
        raise AppError(ErrorKind.INVALID, "keyId is required with a browser session")
    identity.revoke_api_key(key_hash=key.key_hash, account_id=caller.account_id)
    return json_response({"revoked": True, "id": key.id})


def get_balance(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    money = ledger.balance(caller.account_id)
    # The balance a user sees is what they can spend: holds of running jobs on any site
    # are already taken out (heldUsdMicros says how much is held).
    return json_response(
        {
            "currency": "usd",
            "balanceUsdMicros": money.available_micros,
            "availableUsdMicros": money.available_micros,
            "heldUsdMicros": money.held_micros,
        }
    )


def _gone(replacement: str) -> flask.Response:
    raise AppError(
        ErrorKind.GONE,
        f"This route is deprecated; use {replacement}",
        {"replacement": replacement},
    )


def old_balance(request: flask.Request) -> flask.Response:
    return _gone("GET /api/v1/balance")


def old_consume(request: flask.Request) -> flask.Response:
    return _gone("POST /api/v1/media/jobs")


_handle = entry_point(
    [
        ("GET", "/api/v1/keys", list_keys),
        ("POST", "/api/v1/keys", create_key),
        ("POST", "/api/v1/keys/revoke", revoke_key),
        ("GET", "/api/v1/balance", get_balance),
        ("GET", "/api/v1/credits/balance", old_balance),
        ("POST", "/api/v1/credits/consume", old_consume),
    ],
    render_error,
)


@functions_framework.http
def media_account(request: flask.Request) -> flask.Response:
    return _handle(request)
