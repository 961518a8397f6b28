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
