"""The public (camelCase) shapes of tars models, as the Tarsify document shows them.

Rendering only: pure functions of records already read. `priceCredits` (Relay extension) is
always what a run costs now: the creator's price, else the base model's. A base model's
`fixedInput` never appears in any shape; the marketplace shows its consumer `inputSchema`.
"""

from __future__ import annotations

from typing import Any

from shared.market.overrides import effective_price
from shared.market.records import BaseModelRecord, iso
from shared.market.tars_models import TarsModel


def base_summary(base: BaseModelRecord | None) -> dict[str, Any] | None:
    if base is None:
        return None
    return {
        "id": base.id,
        "slug": base.slug,
        "name": base.name,
        "category": str(base.category),
        "outputType": base.output_type,
    }


def _price(model: TarsModel) -> int | None:
    if model.base is None:
        return model.record.price_credits
    return effective_price(base=model.base, price_credits=model.record.price_credits)


def studio_item(model: TarsModel) -> dict[str, Any]:
    record = model.record
    return {
        "id": record.id,
        "title": record.title,
        "slug": record.slug,
        "status": str(record.status),
        "baseModel": base_summary(model.base),
        "priceCredits": _price(model),
        "publishedAt": iso(record.published_at),
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }


def studio_detail(model: TarsModel) -> dict[str, Any]:
    record = model.record
    return {
        "id": record.id,
        "title": record.title,
        "slug": record.slug,
        "description": record.description,
        "status": str(record.status),
        "configOverrides": record.config_overrides,
        "baseModel": base_summary(model.base),
        "priceCredits": _price(model),
        "publishedAt": iso(record.published_at),
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }


def status_change(model: TarsModel) -> dict[str, Any]:
    record = model.record
    return {
        "id": record.id,
        "status": str(record.status),
        "publishedAt": iso(record.published_at),
        "updatedAt": iso(record.updated_at),
    }


def _developer(name: str | None, developer_id: str) -> dict[str, Any]:
    return {"id": developer_id, "name": name}


def market_item(model: TarsModel, developer_name: str | None) -> dict[str, Any]:
    record, base = model.record, model.base
    assert base is not None  # the marketplace lists only models whose base model exists
    return {
        "id": record.id,
        "title": record.title,
        "slug": record.slug,
        "description": record.description,
        "category": str(base.category),
        "outputType": base.output_type,
        "outputFormat": base.output_format,
        "estimatedSeconds": base.estimated_seconds,
        "priceCredits": _price(model),
        "developer": _developer(developer_name, record.developer_id),
    }


def market_detail(model: TarsModel, developer_name: str | None) -> dict[str, Any]:
    assert model.base is not None
    item = market_item(model, developer_name)
    developer_shape = item.pop("developer")
    return {**item, "inputSchema": model.base.input_schema, "developer": developer_shape}
