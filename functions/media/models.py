"""Request bodies of the Killa Tamata document, one pydantic model per schema.

The document's schemas forbid unknown properties (`additionalProperties: false`) and give
length bounds; these models say the same, so a body the document rejects is a 400 here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyUrl, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from shared.engine.validate import DocId

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
