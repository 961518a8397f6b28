"""Killa Tamata's public shapes: request bodies and response bodies, in one place.

Request models follow the document's schemas: they forbid unknown properties
(`additionalProperties: false`) and keep its length bounds, so a body the document rejects
is a 400 here. Response bodies are built only by the `*_view` functions below, which the
site's handlers and any service that renders the same resource share.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyUrl, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.engine import clock
from shared.engine.identity import Account, ApiKey
from shared.engine.validate import DocId
from shared.media import affiliates, sessions
from shared.media.affiliates import (
    Binding,
    Capture,
    Commission,
    Dashboard,
    PayoutRequest,
    Profile,
    Reason,
)
from shared.media.signin import DeviceLink, IssuedKey

Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AffiliateCode = Annotated[str, StringConstraints(min_length=4, max_length=32)]
IdToken = Annotated[str, StringConstraints(min_length=20, max_length=8192)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class GoogleAuthRequest(Body):
    idToken: IdToken
    keyLabel: Label | None = None


class EmailAuthStartRequest(Body):
    email: EmailStr


class EmailAuthVerifyRequest(Body):
    email: EmailStr
    code: Annotated[str, StringConstraints(min_length=6, max_length=6)]
    keyLabel: Label | None = None


class DeviceLinkStartRequest(Body):
    keyLabel: Label | None = None


class DeviceLinkApproveRequest(Body):
    userCode: Annotated[str, StringConstraints(min_length=4, max_length=32)]
    keyLabel: Label | None = None


class DeviceLinkPollRequest(Body):
    deviceCode: Annotated[str, StringConstraints(min_length=20, max_length=256)]


class CreateKeyRequest(Body):
    label: Label | None = None
    idToken: IdToken | None = None


class RevokeKeyRequest(Body):
    keyId: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class StripeCheckoutRequest(Body):
    packageCode: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    successUrl: AnyUrl | None = None
    cancelUrl: AnyUrl | None = None
    email: EmailStr | None = None
    affiliateCode: AffiliateCode | None = None


class CryptoCheckoutRequest(Body):
    packageCode: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    redirectUrl: AnyUrl | None = None
    cancelUrl: AnyUrl | None = None
    email: EmailStr | None = None
    affiliateCode: AffiliateCode | None = None


class ClaimStripeRequest(Body):
    sessionId: Annotated[DocId, StringConstraints(min_length=1, max_length=256)]


class ClaimCryptoRequest(Body):
    chargeId: Annotated[DocId, StringConstraints(min_length=1, max_length=256)]


class X402CreditPurchaseRequest(Body):
    usdCents: int = Field(ge=100, le=900_719_925_474)
    affiliateCode: AffiliateCode | None = None


# --- response bodies ---------------------------------------------------------------------


def api_key_view(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "label": key.label,
        "hint": key.hint,
        "createdAt": clock.iso(key.created_at),
        "revokedAt": clock.iso(key.revoked_at),
        "active": key.revoked_at is None,
    }


def account_view(account: Account) -> dict[str, object]:
    return {"id": account.id, "email": account.email, "displayName": account.display_name}


def issued_key_view(issued: IssuedKey) -> dict[str, object]:
    return {
        "apiKey": issued.api_key,
        "keyLabel": issued.label,
        "account": account_view(issued.account),
    }


def device_link_view(link: DeviceLink) -> dict[str, object]:
    return {
        "userCode": link.user_code,
        "status": link.status,
        "keyLabel": link.key_label,
        "expiresAt": clock.iso(link.expires_at),
    }


# --- affiliate response bodies -----------------------------------------------------------


def affiliate_profile_view(p: Profile) -> dict[str, object]:
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


def affiliate_code_view(p: Profile) -> dict[str, object]:
    return {
        "code": p.code,
        "status": str(p.status),
        "referralUrl": affiliates.referral_url(p.code),
        "landingUrl": affiliates.landing_url(p.code),
    }


def eligibility_view(reasons: list[Reason]) -> dict[str, object]:
    return {"eligible": not reasons, "reasons": [str(r) for r in reasons]}


def affiliate_dashboard_view(state: Dashboard) -> dict[str, object]:
    p = state.profile
    return {
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
            "heldUsdMicros": state.held_micros,
            "requestedUsdMicros": p.requested_micros,
            "paidUsdMicros": p.paid_micros,
            "clawedBackUsdMicros": p.clawed_back_micros,
        },
        "eligibility": eligibility_view(state.reasons),
    }


def commission_view(c: Commission) -> dict[str, object]:
    return {
        "id": c.id,
        "status": c.status,
        "depositUsdMicros": c.deposit_micros,
        "commissionUsdMicros": c.commission_micros,
        "clawedBackUsdMicros": c.recovered_micros,
        "rateBps": c.rate_bps,
        "createdAt": clock.iso(c.created_at),
    }


def commissions_view(found: list[Commission], *, limit: int) -> dict[str, object]:
    return {"commissions": [commission_view(c) for c in found], "limit": limit}


def affiliate_payout_view(r: PayoutRequest) -> dict[str, object]:
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


def affiliate_payouts_view(found: list[PayoutRequest], *, limit: int) -> dict[str, object]:
    return {"payouts": [affiliate_payout_view(p) for p in found], "limit": limit}


def payout_requests_view(
    found: list[PayoutRequest], state: Dashboard, *, limit: int
) -> dict[str, object]:
    return {
        "payoutRequests": [affiliate_payout_view(r) for r in found],
        "availableUsdMicros": state.available_micros,
        "payoutMinimumUsdMicros": affiliates.PAYOUT_MINIMUM_MICROS,
        "eligibility": eligibility_view(state.reasons),
        "limit": limit,
    }


def affiliate_binding_view(b: Binding, *, created: bool) -> dict[str, object]:
    return {
        "bound": True,
        "code": b.code,
        "boundAt": clock.iso(b.bound_at),
        "commissionUntil": clock.iso(b.commission_until),
        "created": created,
    }


def capture_view(captured: Capture) -> dict[str, object]:
    return {
        "code": captured.code,
        "captureToken": captured.token,
        "cookie": sessions.COOKIE,
        "expiresAt": clock.iso(captured.expires_at),
    }


def referral_redirect_view(captured: Capture, *, target: str) -> dict[str, object]:
    return {"redirectTo": target, "code": captured.code}
