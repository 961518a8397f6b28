"""Killa Tamata sign-in: /api/v1/auth/** and /api/v1/device/link/**."""

from __future__ import annotations

import flask
import functions_framework

from functions.http import (
    client_network,
    entry_point,
    json_response,
    parse_body,
    parse_optional_body,
)
from functions.media.site import (
    authenticate,
    browser_guard,
    cookie_jar,
    render_error,
    store_jar,
)
from shared.engine import clock, identity
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import Account
from shared.engine.settings import get_settings
from shared.media import sessions, signin, views


def _with_session(request: flask.Request, account: Account, method: str) -> flask.Response:
    token, session = sessions.create(account_id=account.id, method=method)
    response = json_response(
        {
            "authenticated": True,
            "account": views.account_view(account),
            "session": {"method": method, "expiresAt": clock.iso(session.expires_at)},
        }
    )
    store_jar(response, request, session=token)
    return response


def google(request: flask.Request) -> flask.Response:
    body = parse_body(request, views.GoogleAuthRequest)
    account = signin.google_account(body.idToken)
    return json_response(
        views.issued_key_view(
            signin.issue_key(account=account, label=body.keyLabel, network=client_network(request))
        ),
        201,
    )


def browser_google(request: flask.Request) -> flask.Response:
    browser_guard(request)
    body = parse_body(request, views.GoogleAuthRequest)
    return _with_session(request, signin.google_account(body.idToken), "google")


def email_start(request: flask.Request) -> flask.Response:
    body = parse_body(request, views.EmailAuthStartRequest)
    expires = signin.start_email(email=str(body.email), network=client_network(request))
    return json_response(
        {"sent": True, "email": str(body.email), "expiresAt": clock.iso(expires)}, 202
    )


def email_verify(request: flask.Request) -> flask.Response:
    body = parse_body(request, views.EmailAuthVerifyRequest)
    account = signin.verify_email(
        email=str(body.email), code=body.code, network=client_network(request)
    )
    return json_response(
        views.issued_key_view(
            signin.issue_key(account=account, label=body.keyLabel, network=client_network(request))
        ),
        201,
    )


def browser_email_verify(request: flask.Request) -> flask.Response:
    browser_guard(request)
    body = parse_body(request, views.EmailAuthVerifyRequest)
    account = signin.verify_email(
        email=str(body.email), code=body.code, network=client_network(request)
    )
    return _with_session(request, account, "email")


def get_session(request: flask.Request) -> flask.Response:
    session = sessions.from_cookie(cookie_jar(request).session)
    if session is None:
        return json_response({"authenticated": False, "account": None, "session": None})
    account = identity.get_account(session.account_id)
    return json_response(
        {
            "authenticated": True,
            "account": views.account_view(account),
            "session": {"method": session.method, "expiresAt": clock.iso(session.expires_at)},
        }
    )


def delete_session(request: flask.Request) -> flask.Response:
    browser_guard(request)
    revoked = sessions.revoke(cookie_jar(request).session)
    response = json_response({"authenticated": False, "revoked": revoked})
    store_jar(response, request, session=None)
    return response


def device_start(request: flask.Request) -> flask.Response:
    body = parse_optional_body(request, views.DeviceLinkStartRequest)
    device_code, link = signin.start_device(
        key_label=body.keyLabel, network=client_network(request)
    )
    verify = f"{get_settings().media_public_url.rstrip('/')}/device"
    return json_response(
        {
            **views.device_link_view(link),
            "deviceCode": device_code,
            "verificationUri": verify,
            "verificationUriComplete": f"{verify}?userCode={link.user_code}",
            "expiresIn": int(signin.DEVICE_TTL.total_seconds()),
            "interval": signin.DEVICE_POLL_INTERVAL_S,
        },
        201,
    )


def device_request(request: flask.Request) -> flask.Response:
    user_code = request.args.get("userCode", "")
    if len(user_code) < 4 or len(user_code) > 64:
        raise AppError(ErrorKind.INVALID, "userCode: at least 4 characters required")
    return json_response(views.device_link_view(signin.device_request(user_code)))


def device_approve(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = parse_body(request, views.DeviceLinkApproveRequest)
    link = signin.approve_device(
        user_code=body.userCode, account_id=caller.account_id, key_label=body.keyLabel
    )
    return json_response(views.device_link_view(link))


def device_poll(request: flask.Request) -> flask.Response:
    body = parse_body(request, views.DeviceLinkPollRequest)
    link, issued = signin.poll_device(device_code=body.deviceCode, network=client_network(request))
    payload: dict[str, object] = views.device_link_view(link)
    if issued is not None:
        payload.update(views.issued_key_view(issued))
    return json_response(payload)


_handle = entry_point(
    [
        ("POST", "/api/v1/auth/google", google),
        ("POST", "/api/v1/auth/browser/google", browser_google),
        ("POST", "/api/v1/auth/email/start", email_start),
        ("POST", "/api/v1/auth/email/verify", email_verify),
        ("POST", "/api/v1/auth/browser/email/verify", browser_email_verify),
        ("GET", "/api/v1/auth/browser/session", get_session),
        ("DELETE", "/api/v1/auth/browser/session", delete_session),
        ("POST", "/api/v1/device/link/start", device_start),
        ("GET", "/api/v1/device/link/request", device_request),
        ("POST", "/api/v1/device/link/approve", device_approve),
        ("POST", "/api/v1/device/link/poll", device_poll),
    ],
    render_error,
)


@functions_framework.http
def media_auth(request: flask.Request) -> flask.Response:
    return _handle(request)
