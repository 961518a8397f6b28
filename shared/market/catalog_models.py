"""What clients send and see for the catalog: endpoints and base models (admin, studio).

Request models refuse unknown fields and take the document's camelCase names. A base
model's `inputSchema` must be a valid JSON Schema (draft 2020-12) describing an object, so
every run input can later be checked against it; `priceCredits` is a whole number of
credits in 0..10000 and `maxPriceCredits`, when set, is at least the price (checked on the
merged record by the service, so a partial update cannot break it either).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic.alias_generators import to_camel

from shared.market import records

MAX_PRICE_CREDITS = 10_000
# Stored as JSON text in one Firestore document (1 MiB at most): bounded well below it.
MAX_SCHEMA_CHARS = 64 * 1024
MAX_FIXED_INPUT_CHARS = 16 * 1024


def stored_json(value: dict[str, Any]) -> str:
    """User JSON as the text a record keeps (compact, so its size is what was checked)."""
    return json.dumps(value, separators=(",", ":"))


def _bounded(limit: int) -> AfterValidator:
    def check(value: dict[str, Any]) -> dict[str, Any]:
        if len(stored_json(value)) > limit:
            raise ValueError(f"must be at most {limit} characters as JSON")
        return value

    return AfterValidator(check)


def _uuid(value: str) -> str:
    return str(uuid.UUID(value))


def input_schema_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` cannot be a base model's input schema, or None when it can."""
    if schema.get("type") != "object":
        return 'inputSchema must describe an object ("type": "object")'
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"inputSchema is not a valid JSON Schema: {exc.message}"
    return None


def _input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    problem = input_schema_problem(schema)
    if problem:
        raise ValueError(problem)
    return schema


RunpodEndpointId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=2000)]
DockerImage = Annotated[str, Field(min_length=1, max_length=512)]
Slug = Annotated[
    str, Field(min_length=1, max_length=records.MAX_SLUG, pattern=records.SLUG_PATTERN)
]
Label = Annotated[str, Field(min_length=1, max_length=50)]
Seconds = Annotated[StrictInt, Field(ge=1, le=3600)]
Price = Annotated[StrictInt, Field(ge=0, le=MAX_PRICE_CREDITS)]
RecordId = Annotated[str, AfterValidator(_uuid)]
InputSchema = Annotated[dict[str, Any], _bounded(MAX_SCHEMA_CHARS), AfterValidator(_input_schema)]
FixedInput = Annotated[dict[str, Any], _bounded(MAX_FIXED_INPUT_CHARS)]


class _Body(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=False, str_strip_whitespace=True
    )


class EndpointCreate(_Body):
    runpod_endpoint_id: RunpodEndpointId
    name: Name
    source: records.EndpointSource
    docker_image: DockerImage | None = None
    gpu_type: records.GpuType | None = None
    is_active: StrictBool = True
    provider: records.EndpointProvider = records.EndpointProvider.RUNPOD


class EndpointUpdate(_Body):
    """Partial: a field left out is kept; dockerImage and gpuType may be null to clear."""

    runpod_endpoint_id: RunpodEndpointId | None = None
    name: Name | None = None
    source: records.EndpointSource | None = None
    docker_image: DockerImage | None = None
    gpu_type: records.GpuType | None = None
    is_active: StrictBool | None = None
    provider: records.EndpointProvider | None = None


class BaseModelCreate(_Body):
    endpoint_id: RecordId
    slug: Slug
    name: Name
    description: Description | None = None
    category: records.Category
    input_schema: InputSchema
    output_type: Label
    output_format: Label | None = None
    estimated_seconds: Seconds | None = None
    is_active: StrictBool = True
    price_credits: Price
    max_price_credits: Price | None = None
    fixed_input: FixedInput | None = None


class BaseModelUpdate(_Body):
    """Partial: a field left out is kept; the optional ones may be null to clear."""

    endpoint_id: RecordId | None = None
    slug: Slug | None = None
    name: Name | None = None
    description: Description | None = None
    category: records.Category | None = None
    input_schema: InputSchema | None = None
    output_type: Label | None = None
    output_format: Label | None = None
    estimated_seconds: Seconds | None = None
    is_active: StrictBool | None = None
    price_credits: Price | None = None
    max_price_credits: Price | None = None
    fixed_input: FixedInput | None = None


class BaseModelFilter(BaseModel):
    """`GET /api/studio/base-models` query (other parameters are ignored, as paging's)."""

    model_config = ConfigDict(extra="ignore")

    category: records.Category | None = None


# --- public shapes -----------------------------------------------------------------------


def render_endpoint(endpoint: records.Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "runpodEndpointId": endpoint.runpod_endpoint_id,
        "name": endpoint.name,
        "source": str(endpoint.source),
        "dockerImage": endpoint.docker_image,
        "gpuType": str(endpoint.gpu_type) if endpoint.gpu_type else None,
        "isActive": endpoint.is_active,
        "provider": str(endpoint.provider),
        "createdAt": records.iso(endpoint.created_at),
        "updatedAt": records.iso(endpoint.updated_at),
    }


def render_studio_base_model(base: records.BaseModelRecord) -> dict[str, Any]:
    """A base model as a developer picks one (`GET /api/studio/base-models`)."""
    return {
        "id": base.id,
        "slug": base.slug,
        "name": base.name,
        "description": base.description,
        "category": str(base.category),
        "outputType": base.output_type,
        "outputFormat": base.output_format,
        "inputSchema": base.input_schema,
        "estimatedSeconds": base.estimated_seconds,
        "priceCredits": base.price_credits,
        "maxPriceCredits": base.max_price_credits,
    }


def render_admin_base_model(
    base: records.BaseModelRecord, endpoint: records.Endpoint | None
) -> dict[str, Any]:
    """A base model as an admin manages it: everything, with its endpoint's id and name."""
    return {
        **render_studio_base_model(base),
        "isActive": base.is_active,
        "fixedInput": base.fixed_input,
        "endpoint": {"id": endpoint.id, "name": endpoint.name} if endpoint else None,
        "createdAt": records.iso(base.created_at),
        "updatedAt": records.iso(base.updated_at),
    }
