"""The catalog Relay ships: endpoints for its image handlers and a base model on each.

Idempotent: every record is created through the catalog service (same rules as the admin
API) under a fixed id; one whose `runpodEndpointId` or slug is already claimed is left as
it is (whoever holds the claim keeps it, an admin's edits included), so running the seed
twice, or racing it, changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shared.engine.errors import AppError
from shared.engine.store import db
from shared.market import catalog, records
from shared.market.catalog_models import BaseModelCreate, EndpointCreate

_NAMESPACE = uuid.UUID("6d1f3c5e-6a39-4f55-9b7c-7d7f0b6a2f11")
SIDES = [512, 768, 1024]


def fixed_id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def image_schema() -> dict[str, Any]:
    """The consumer's input for a text-to-image base model (the handler's model and steps
    come from the base model's fixed input)."""
    side = {"type": "integer", "default": 1024, "enum": SIDES}
    return {
        "type": "object",
        "required": ["prompt"],
        "additionalProperties": False,
        "properties": {
            "prompt": {"type": "string", "title": "Prompt", "minLength": 1, "maxLength": 2000},
            "negative_prompt": {"type": "string", "title": "Negative Prompt", "maxLength": 2000},
            "width": {**side, "title": "Width"},
            "height": {**side, "title": "Height"},
            "seed": {"type": "integer", "title": "Seed", "minimum": 0, "maximum": 4294967295},
        },
    }


@dataclass(frozen=True)
class ShippedModel:
    model: str  # the handler's model id, also the RunPod endpoint's name locally
    title: str
    steps: int
    price_credits: int
    max_price_credits: int
    estimated_seconds: int

    @property
    def slug(self) -> str:
        return f"{self.model}-text-to-image"


SHIPPED = (
    ShippedModel("z-image-turbo", "Z-Image Turbo", 8, 10, 10_000, 10),
    ShippedModel("flux-schnell", "FLUX.1 schnell", 4, 5, 10_000, 8),
)


def _claimed(kind: str, value: str) -> str | None:
    snap = db().collection(records.SLUGS).document(records.slug_claim_id(kind, value)).get()
    return str(snap.get("id")) if snap.exists else None


def _ensure_endpoint(shipped: ShippedModel) -> dict[str, Any]:
    record_id = fixed_id(f"endpoint:{shipped.model}")
    request = EndpointCreate.model_validate(
        {"runpodEndpointId": shipped.model, "name": f"{shipped.title} (RunPod)", "source": "HUB"}
    )
    created = True
    try:
        catalog.create_endpoint(request=request, record_id=record_id)
    except AppError as exc:
        held = _claimed(catalog.ENDPOINT_CLAIM, shipped.model)
        if exc.details.get("code") != "ERR_3002" or held is None:
            raise
        record_id, created = held, False
    return {"id": record_id, "runpodEndpointId": shipped.model, "created": created}


def _ensure_base_model(shipped: ShippedModel, endpoint_id: str) -> dict[str, Any]:
    record_id = fixed_id(f"base:{shipped.slug}")
    request = BaseModelCreate.model_validate(
        {
            "endpointId": endpoint_id,
            "slug": shipped.slug,
            "name": f"{shipped.title} Text to Image",
            "description": f"Generate images from text prompts with {shipped.title}",
            "category": "IMAGE",
            "inputSchema": image_schema(),
            "outputType": "IMAGE",
            "outputFormat": "png",
            "estimatedSeconds": shipped.estimated_seconds,
            "isActive": True,
            "priceCredits": shipped.price_credits,
            "maxPriceCredits": shipped.max_price_credits,
            "fixedInput": {"model": shipped.model, "steps": shipped.steps},
        }
    )
    created = True
    try:
        catalog.create_base_model(request=request, record_id=record_id)
    except AppError as exc:
        held = _claimed(catalog.BASE_CLAIM, shipped.slug)
        if exc.details.get("code") != "ERR_3002" or held is None:
            raise
        record_id, created = held, False
    return {"id": record_id, "slug": shipped.slug, "created": created}


def seed() -> dict[str, Any]:
    """Create what is missing of the shipped catalog; returns what it holds, one entry per
    record, with `created` telling whether this run made it."""
    endpoints, base_models = [], []
    for shipped in SHIPPED:
        endpoint = _ensure_endpoint(shipped)
        endpoints.append(endpoint)
        base_models.append(_ensure_base_model(shipped, endpoint["id"]))
    return {"ok": True, "endpoints": endpoints, "baseModels": base_models}
