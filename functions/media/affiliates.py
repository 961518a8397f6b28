"""Killa Tamata: /api/v1/affiliates/** (the affiliate programme; rules in
shared/media/affiliates/). Validate-code, capture and the referral redirect are public;
everything under /me needs an API key or a browser session."""

from __future__ import annotations

from typing import Annotated

import flask
import functions_framework
from pydantic import EmailStr, StringConstraints

from functions.http import entry_point, json_response, parse_body, parse_optional_body
from functions.media.site import authenticate, cookie_jar, render_error, store_jar
from shared.engine import validate
from shared.engine.errors import AppError, ErrorKind
from shared.media import affiliates, views
from shared.media.affiliates import Capture
from shared.media.views import AffiliateCode, Body

DisplayName = Annotated[str, StringConstraints(min_length=2, max_length=120)]
CountryCode = Annotated[str, StringConstraints(min_length=2, max_length=2)]
PayoutAddress = Annotated[str, StringConstraints(min_length=3, max_length=320)]


class AffiliateValidateCodeRequest(Body):
    code: AffiliateCode


class AffiliateCaptureRequest(Body):
    code: AffiliateCode


class AffiliateApplyRequest(Body):
    displayName: DisplayName
    contactEmail: EmailStr
    countryCode: CountryCode | None = None
    payoutAddress: PayoutAddress | None = None
    termsVersion: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class AffiliateUpdateRequest(Body):
    displayName: DisplayName | None = None
    contactEmail: EmailStr | None = None
    countryCode: CountryCode | None = None
    payoutAddress: PayoutAddress | None = None


class AffiliateBindCodeRequest(Body):
    code: AffiliateCode
    captureToken: Annotated[str, StringConstraints(min_length=24, max_length=4096)] | None = None


class AffiliatePayoutRequestCreateRequest(Body):
    note: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None


MAX_LIMIT = 100


def _limit(request: flask.Request, default: int) -> int:
    raw = request.args.get("limit")
    return validate.query_int(raw, name="limit", default=default, minimum=1, maximum=MAX_LIMIT)


# --- render ------------------------------------------------------------------------------


def _with_cookie(
    response: flask.Response, request: flask.Request, captured: Capture
) -> flask.Response:
    store_jar(response, request, attribution=captured.token)
    return response


# --- public ------------------------------------------------------------------------------


def validate_code(request: flask.Request) -> flask.Response:
    body = parse_body(request, AffiliateValidateCodeRequest)
    code, valid = affiliates.validate_code(body.code)
    return json_response({"valid": valid, "code": code})


def capture(request: flask.Request) -> flask.Response:
    body = parse_body(request, AffiliateCaptureRequest)
    captured = affiliates.capture(body.code)
    return _with_cookie(json_response(views.capture_view(captured)), request, captured)


def referral_redirect(request: flask.Request) -> flask.Response:
    code = request.args.get("code", "")
    if not 4 <= len(code) <= 32:
        raise AppError(ErrorKind.INVALID, "code: between 4 and 32 characters required")
    captured = affiliates.capture(code)
    target = affiliates.landing_url(captured.code)
    response = json_response(views.referral_redirect_view(captured, target=target), 302)
    response.headers["Location"] = target
    return _with_cookie(response, request, captured)


# --- the affiliate -----------------------------------------------------------------------


def apply(request: flask.Request) -> flask.Response:
    body = parse_body(request, AffiliateApplyRequest)
    caller = authenticate(request)
    profile = affiliates.apply(
        account_id=caller.account_id,
        display_name=body.displayName,
        contact_email=str(body.contactEmail),
        country_code=body.countryCode,
        payout_address=body.payoutAddress,
        terms_version=body.termsVersion,
    )
    return json_response(views.affiliate_profile_view(profile), 201)


def get_me(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    return json_response(views.affiliate_profile_view(affiliates.get_profile(caller.account_id)))


def update_me(request: flask.Request) -> flask.Response:
    body = parse_body(request, AffiliateUpdateRequest)
    caller = authenticate(request)
    profile = affiliates.update(
        account_id=caller.account_id,
        display_name=body.displayName,
        contact_email=str(body.contactEmail) if body.contactEmail else None,
        country_code=body.countryCode,
        payout_address=body.payoutAddress,
    )
    return json_response(views.affiliate_profile_view(profile))


def get_code(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    profile = affiliates.get_profile(caller.account_id)
    return json_response(views.affiliate_code_view(profile))


def get_dashboard(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    state = affiliates.dashboard(caller.account_id)
    return json_response(views.affiliate_dashboard_view(state))


def list_commissions(request: flask.Request) -> flask.Response:
    limit = _limit(request, 100)
    caller = authenticate(request)
    found = affiliates.list_commissions(account_id=caller.account_id, limit=limit)
    return json_response(views.commissions_view(found, limit=limit))


def list_payouts(request: flask.Request) -> flask.Response:
    limit = _limit(request, 20)
    caller = authenticate(request)
    found = affiliates.list_payouts(account_id=caller.account_id, limit=limit)
    return json_response(views.affiliate_payouts_view(found, limit=limit))


def list_payout_requests(request: flask.Request) -> flask.Response:
    limit = _limit(request, 20)
    caller = authenticate(request)
    found, state = affiliates.list_payout_requests(account_id=caller.account_id, limit=limit)
    return json_response(views.payout_requests_view(found, state, limit=limit))


def create_payout_request(request: flask.Request) -> flask.Response:
    body = parse_optional_body(request, AffiliatePayoutRequestCreateRequest)
    caller = authenticate(request)
    created = affiliates.request_payout(account_id=caller.account_id, note=body.note)
    return json_response(views.affiliate_payout_view(created), 201)


# --- the referred account ----------------------------------------------------------------


def bind_code(request: flask.Request) -> flask.Response:
    body = parse_body(request, AffiliateBindCodeRequest)
    caller = authenticate(request)
    binding, created = affiliates.bind_code(
        account_id=caller.account_id,
        code=body.code,
        capture_token=body.captureToken,
        cookie_token=cookie_jar(request).attribution,
    )
    return json_response(
        views.affiliate_binding_view(binding, created=created), 201 if created else 200
    )


_handle = entry_point(
    [
        ("GET", "/api/v1/affiliates/r", referral_redirect),
        ("POST", "/api/v1/affiliates/validate-code", validate_code),
        ("POST", "/api/v1/affiliates/capture", capture),
        ("POST", "/api/v1/affiliates/me/apply", apply),
        ("GET", "/api/v1/affiliates/me", get_me),
        ("PATCH", "/api/v1/affiliates/me", update_me),
        ("GET", "/api/v1/affiliates/me/code", get_code),
        ("GET", "/api/v1/affiliates/me/dashboard", get_dashboard),
        ("GET", "/api/v1/affiliates/me/commissions", list_commissions),
        ("GET", "/api/v1/affiliates/me/payouts", list_payouts),
        ("GET", "/api/v1/affiliates/me/payout-requests", list_payout_requests),
        ("POST", "/api/v1/affiliates/me/payout-requests", create_payout_request),
        ("POST", "/api/v1/affiliates/me/bind-code", bind_code),
    ],
    render_error,
)


@functions_framework.http
def media_affiliates(request: flask.Request) -> flask.Response:
    return _handle(request)
