"""Killa Tamata: /api/v1/affiliates/** (the affiliate programme; rules in
shared/media/affiliates/). Validate-code, capture and the referral redirect are public;
everything under /me needs an API key or a browser session."""

from __future__ import annotations

from typing import Annotated

import flask
import functions_framework
from pydantic import EmailStr, StringConstraints

from functions.http import entry_point, json_response, parse_body, parse_optional_body
from functions.media.site import authenticate, render_error
from shared.engine import clock, validate
from shared.engine.errors import AppError, ErrorKind
from shared.media import affiliates, sessions
from shared.media.affiliates import Binding, Capture, Commission, PayoutRequest, Profile, Reason
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


def _profile(p: Profile) -> dict[str, object]:
    return {
        "accountId": p.account_id,
        "code": p.code,
        "status": str(p.status),
        "displayName": p.display_name,
        "contactEmail": p.contact_email,
        "countryCode": p.country_code,
        "payoutAddress": p.payout_address,
        "termsVersion": p.terms_version,
        "referralUrl": affiliates.referral_url(p.code),
        "commissionRateBps": affiliates.COMMISSION_RATE_BPS,
        "createdAt": clock.iso(p.created_at),
        "updatedAt": clock.iso(p.updated_at),
    }


def _eligibility(reasons: list[Reason]) -> dict[str, object]:
    return {"eligible": not reasons, "reasons": [str(r) for r in reasons]}


def _commission(c: Commission) -> dict[str, object]:
    return {
        "id": c.id,
        "status": c.status,
        "depositUsdMicros": c.deposit_micros,
        "commissionUsdMicros": c.commission_micros,
        "clawedBackUsdMicros": c.recovered_micros,
        "rateBps": c.rate_bps,
        "createdAt": clock.iso(c.created_at),
    }


def _payout(r: PayoutRequest) -> dict[str, object]:
    return {
        "id": r.id,
        "status": str(r.status),
        "amountUsdMicros": r.amount_micros,
        "note": r.note,
        "payoutAddress": r.payout_address,
        "requestedAt": clock.iso(r.created_at),
        "paidAt": clock.iso(r.paid_at),
        "reference": r.reference,
    }


def _binding(b: Binding) -> dict[str, object]:
    return {
        "bound": True,
        "code": b.code,
        "boundAt": clock.iso(b.bound_at),
        "commissionUntil": clock.iso(b.commission_until),
    }


def _with_cookie(response: flask.Response, captured: Capture) -> flask.Response:
    response.set_cookie(
        affiliates.ATTRIBUTION_COOKIE,
        captured.token,
        max_age=int(affiliates.ATTRIBUTION_TTL.total_seconds()),
        **sessions.cookie_options(),
    )
    return response


# --- public ------------------------------------------------------------------------------


def validate_code(request: flask.Request) -> flask.Response:
    body = parse_body(request, AffiliateValidateCodeRequest)
    code, valid = affiliates.validate_code(body.code)
    return json_response({"valid": valid, "code": code})


def capture(request: flask.Request) -> flask.Response:
    body = parse_body(request, AffiliateCaptureRequest)
    captured = affiliates.capture(body.code)
    payload = {
        "code": captured.code,
        "captureToken": captured.token,
        "cookie": affiliates.ATTRIBUTION_COOKIE,
        "expiresAt": clock.iso(captured.expires_at),
    }
    return _with_cookie(json_response(payload), captured)


def referral_redirect(request: flask.Request) -> flask.Response:
    code = request.args.get("code", "")
    if not 4 <= len(code) <= 32:
        raise AppError(ErrorKind.INVALID, "code: between 4 and 32 characters required")
    captured = affiliates.capture(code)
    target = affiliates.landing_url(captured.code)
    response = json_response({"redirectTo": target, "code": captured.code}, 302)
    response.headers["Location"] = target
    return _with_cookie(response, captured)


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
    return json_response(_profile(profile), 201)


def get_me(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    return json_response(_profile(affiliates.get_profile(caller.account_id)))


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
    return json_response(_profile(profile))


def get_code(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    profile = affiliates.get_profile(caller.account_id)
    return json_response(
        {
            "code": profile.code,
            "status": str(profile.status),
            "referralUrl": affiliates.referral_url(profile.code),
            "landingUrl": affiliates.landing_url(profile.code),
        }
    )


def get_dashboard(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    state = affiliates.dashboard(caller.account_id)
    p = state.profile
    return json_response(
        {
            "code": p.code,
            "status": str(p.status),
            "referralUrl": affiliates.referral_url(p.code),
            "referredAccounts": p.referred_count,
            "commissionsCount": p.commission_count,
            "commissionRateBps": affiliates.COMMISSION_RATE_BPS,
            "commissionWindowDays": affiliates.COMMISSION_WINDOW.days,
            "payoutMinimumUsdMicros": affiliates.PAYOUT_MINIMUM_MICROS,
            "totals": {
                "earnedUsdMicros": p.earned_micros,
                "availableUsdMicros": state.available_micros,
                "requestedUsdMicros": p.requested_micros,
                "paidUsdMicros": p.paid_micros,
                "clawedBackUsdMicros": p.clawed_back_micros,
            },
            "eligibility": _eligibility(state.reasons),
        }
    )


def list_commissions(request: flask.Request) -> flask.Response:
    limit = _limit(request, 100)
    caller = authenticate(request)
    found = affiliates.list_commissions(account_id=caller.account_id, limit=limit)
    return json_response({"commissions": [_commission(c) for c in found], "limit": limit})


def list_payouts(request: flask.Request) -> flask.Response:
    limit = _limit(request, 20)
    caller = authenticate(request)
    found = affiliates.list_payouts(account_id=caller.account_id, limit=limit)
    return json_response({"payouts": [_payout(p) for p in found], "limit": limit})


def list_payout_requests(request: flask.Request) -> flask.Response:
    limit = _limit(request, 20)
    caller = authenticate(request)
    found, state = affiliates.list_payout_requests(account_id=caller.account_id, limit=limit)
    return json_response(
        {
            "payoutRequests": [_payout(r) for r in found],
            "availableUsdMicros": state.available_micros,
            "payoutMinimumUsdMicros": affiliates.PAYOUT_MINIMUM_MICROS,
            "eligibility": _eligibility(state.reasons),
            "limit": limit,
        }
    )


def create_payout_request(request: flask.Request) -> flask.Response:
    body = parse_optional_body(request, AffiliatePayoutRequestCreateRequest)
    caller = authenticate(request)
    created = affiliates.request_payout(account_id=caller.account_id, note=body.note)
    return json_response(_payout(created), 201)


# --- the referred account ----------------------------------------------------------------


def bind_code(request: flask.Request) -> flask.Response:
    body = parse_body(request, AffiliateBindCodeRequest)
    caller = authenticate(request)
    binding, created = affiliates.bind_code(
        account_id=caller.account_id,
        code=body.code,
        capture_token=body.captureToken,
        cookie_token=request.cookies.get(affiliates.ATTRIBUTION_COOKIE),
    )
    return json_response({**_binding(binding), "created": created}, 201 if created else 200)


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
