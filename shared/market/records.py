"""Tarsify's stored records: collection names, enums and the record models, defined once.

Records are what Firestore holds (snake_case, UTC datetimes, integer credits); the public
camelCase shapes are rendered by each area's views. User-supplied JSON that Firestore cannot
store as a map in general (a base model's input JSON Schema, a tars model's
`configOverrides`: keys such as `__x__` or `$ref`) is kept as JSON text (`*_json`) and
parsed on read, so no client document can fail a write.

Ids: developers are keyed by their Relay account id (one account, one developer profile);
every other record has a UUID. Slugs are unique per kind through claim documents
(`market_slugs/<kind>:<slug>`) created in the same batch as the record that takes them.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

DEVELOPERS = "market_developers"
ENDPOINTS = "market_endpoints"
BASE_MODELS = "market_base_models"
TARS_MODELS = "market_tars_models"
NOTEBOOKS = "market_notebooks"
PAYOUTS = "market_payouts"
SLUGS = "market_slugs"  # claim documents: `<kind>:<slug>` -> {"id": <record id>}

SITE = "market"
# Every slug: lower-case words of letters and digits joined by single hyphens.
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
MAX_SLUG = 100
CREDIT_MICROS = 10_000  # 1 Tarsify credit = $0.01
CREATOR_SHARE_PERCENT = 80  # creator earning = floor(capture * 80 / 100); the rest: platform
PLATFORM_FEE_RATE = 0.2  # shown by /earnings; the rule is CREATOR_SHARE_PERCENT
PAYOUT_MINIMUM_CREDITS = 5_000


class Category(StrEnum):
    IMAGE = "IMAGE"
    AUDIO = "AUDIO"
    TEXT = "TEXT"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"


class TarsStatus(StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    ARCHIVED = "ARCHIVED"


class EndpointSource(StrEnum):
    HUB = "HUB"
    CUSTOM = "CUSTOM"


class EndpointProvider(StrEnum):
    """Relay extension: which serverless GPU provider serves an endpoint."""

    RUNPOD = "runpod"
    MODAL = "modal"


class GpuType(StrEnum):
    T4 = "T4"
    A10G = "A10G"
    A100 = "A100"


class PayoutStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class Developer(BaseModel):
    id: str  # the Relay account id
    firebase_uid: str | None = None
    email: str
    display_name: str | None = None
    avatar_url: str | None = None
    bio: str | None = None
    payout_email: str | None = None
    country: str | None = None
    stripe_account_id: str | None = None
    verified: bool = False
    profile_complete: bool = False
    created_at: dt.datetime
    updated_at: dt.datetime


class Endpoint(BaseModel):
    id: str
    runpod_endpoint_id: str
    name: str
    source: EndpointSource = EndpointSource.HUB
    docker_image: str | None = None
    gpu_type: GpuType | None = None
    is_active: bool = True
    provider: EndpointProvider = EndpointProvider.RUNPOD
    created_at: dt.datetime
    updated_at: dt.datetime


class BaseModelRecord(BaseModel):
    id: str
    endpoint_id: str
    slug: str
    name: str
    description: str | None = None
    category: Category
    input_schema_json: str  # a JSON Schema object, as text
    output_type: str
    output_format: str | None = None
    estimated_seconds: int | None = None
    is_active: bool = True
    price_credits: int  # the price of a run
    max_price_credits: int | None = None  # a creator may set a tars model's price up to this
    # Relay extension: handler input the base model fixes (e.g. {"model": "z-image-turbo"}),
    # merged over the validated run input; not part of the consumer's schema.
    fixed_input_json: str = "{}"
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def input_schema(self) -> dict[str, Any]:
        return dict(json.loads(self.input_schema_json))

    @property
    def fixed_input(self) -> dict[str, Any]:
        return dict(json.loads(self.fixed_input_json))


class TarsModelRecord(BaseModel):
    id: str
    developer_id: str
    title: str
    slug: str
    description: str | None = None
    base_model_id: str
    config_overrides_json: str = "{}"
    price_credits: int | None = None  # None: the base model's price
    status: TarsStatus = TarsStatus.DRAFT
    published_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def config_overrides(self) -> dict[str, Any]:
        return dict(json.loads(self.config_overrides_json))


class PayoutRecord(BaseModel):
    id: str
    account_id: str
    amount_credits: int
    status: PayoutStatus = PayoutStatus.PENDING
    stripe_account_id: str
    stripe_transfer_id: str | None = None
    failure_reason: str | None = None
    requested_at: dt.datetime
    processed_at: dt.datetime | None = None
    estimated_arrival: dt.datetime | None = None


def slug_claim_id(kind: str, slug: str) -> str:
    return f"{kind}:{slug}"


def iso(moment: dt.datetime | None) -> str | None:
    """A stored moment as the document writes them: `2026-01-20T00:00:00Z`."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
