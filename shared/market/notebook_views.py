"""Notebook lists and public shapes: what the studio and the marketplace show of a notebook.

Lists are filtered and ordered here, then cut into pages (`paging`): the studio's by status,
search (title and description, case-insensitive) and one of the documented sort keys (ties by
id, so pages are stable); the marketplace's only ever holds published notebooks. Money
fields are credits; `runCount` and `totalEarnings` are 0 and `rating` null, since a notebook
never runs on Relay. The marketplace never shows a notebook's file or its owner's account.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from shared.market import notebooks, paging
from shared.market.notebooks import NotebookCategory, NotebookRecord, NotebookStatus
from shared.market.records import iso


class StatusFilter(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"
    ALL = "all"


class SortKey(StrEnum):
    CREATED = "createdAt"
    CREATED_DESC = "-createdAt"
    UPDATED = "updatedAt"
    UPDATED_DESC = "-updatedAt"
    TITLE = "title"
    TITLE_DESC = "-title"
    RUNS = "runCount"
    RUNS_DESC = "-runCount"


_SORT_FIELDS: dict[str, Callable[[NotebookRecord], Any]] = {
    "createdAt": lambda r: r.created_at,
    "updatedAt": lambda r: r.updated_at,
    "title": lambda r: r.title.casefold(),
    "runCount": lambda r: r.run_count,
}


class StudioListQuery(paging.PageQuery):
    model_config = ConfigDict(extra="ignore")

    status: StatusFilter = StatusFilter.ALL
    sort: SortKey = SortKey.CREATED_DESC
    search: str | None = Field(None, max_length=200)


class MarketListQuery(paging.PageQuery):
    model_config = ConfigDict(extra="ignore")

    category: NotebookCategory | None = None
    search: str | None = Field(None, max_length=200)


def _matches(record: NotebookRecord, search: str | None) -> bool:
    if not search:
        return True
    needle = search.casefold()
    return any(needle in (text or "").casefold() for text in (record.title, record.description))


def _ordered(items: list[NotebookRecord], sort: SortKey) -> list[NotebookRecord]:
    key = _SORT_FIELDS[sort.value.lstrip("-")]
    by_id = sorted(items, key=lambda r: r.id)
    return sorted(by_id, key=key, reverse=sort.value.startswith("-"))


def studio_page(
    *, developer_id: str, query: StudioListQuery
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    items = [
        r
        for r in notebooks.owned_by(developer_id)
        if (query.status is StatusFilter.ALL or r.status.value == query.status.value)
        and _matches(r, query.search)
    ]
    ordered = _ordered(items, query.sort)
    page = paging.cut(ordered, page=query.page, limit=query.limit)
    meta = paging.meta(page=query.page, limit=query.limit, total=len(ordered))
    return [studio_item(r) for r in page], meta


def market_page(*, query: MarketListQuery) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Published notebooks, newest first; a category filter takes its `*_PROCESSING` form
    too (IMAGE finds IMAGE and IMAGE_PROCESSING)."""
    family = query.category.family if query.category else None
    items = [
        r
        for r in notebooks.published()
        if (family is None or (r.category is not None and r.category.family == family))
        and _matches(r, query.search)
    ]
    ordered = sorted(
        sorted(items, key=lambda r: r.id),
        key=lambda r: r.published_at or r.created_at,
        reverse=True,
    )
    page = paging.cut(ordered, page=query.page, limit=query.limit)
    meta = paging.meta(page=query.page, limit=query.limit, total=len(ordered))
    return [market_item(r) for r in page], meta


def file_url(record: NotebookRecord) -> str | None:
    return f"/api/studio/notebooks/{record.id}/file" if record.file_path else None


def _rating(record: NotebookRecord) -> float | None:
    if not record.rating_count:
        return None
    return round(record.rating_sum / record.rating_count, 1)


def _schema(text: str | None) -> Any:
    return json.loads(text) if text else None


def _common(record: NotebookRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "title": record.title,
        "slug": record.slug,
        "description": record.description,
        "shortDescription": record.short_description,
        "thumbnailUrl": record.thumbnail_url,
        "category": record.category.value if record.category else None,
    }


def studio_item(record: NotebookRecord) -> dict[str, Any]:
    return {
        **_common(record),
        "status": record.status.value,
        "priceCredits": record.price_credits,
        "gpuType": record.gpu_type.value,
        "notebookFileUrl": file_url(record),
        "runCount": record.run_count,
        "rating": _rating(record),
        "totalEarnings": 0,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
        "publishedAt": iso(record.published_at),
    }


def studio_detail(record: NotebookRecord) -> dict[str, Any]:
    item = studio_item(record)
    return {
        **{k: v for k, v in item.items() if k not in ("runCount", "rating", "totalEarnings")},
        "inputSchema": _schema(record.input_schema_json),
        "outputSchema": _schema(record.output_schema_json),
        "runCount": record.run_count,
        "rating": _rating(record),
        "ratingCount": record.rating_count,
        "totalEarnings": 0,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
        "publishedAt": iso(record.published_at),
    }


def created(record: NotebookRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "title": record.title,
        "slug": record.slug,
        "status": record.status.value,
        "notebookFileUrl": file_url(record),
        "createdAt": iso(record.created_at),
    }


def updated(record: NotebookRecord) -> dict[str, Any]:
    return {"id": record.id, "title": record.title, "updatedAt": iso(record.updated_at)}


def file_uploaded(record: NotebookRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "notebookFileUrl": file_url(record),
        "message": "Notebook file uploaded successfully",
    }


def file_deleted(record: NotebookRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "notebookFileUrl": None,
        "message": "Notebook file deleted successfully",
    }


def published(record: NotebookRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "status": record.status.value,
        "slug": record.slug,
        "publishedAt": iso(record.published_at),
        "message": "Notebook published successfully",
    }


def unpublished(record: NotebookRecord) -> dict[str, Any]:
    return {"id": record.id, "status": record.status.value, "message": "Notebook unpublished"}


def removed(record: NotebookRecord, status: NotebookStatus | None) -> dict[str, Any]:
    """DELETE's answer: archived (a published notebook) or deleted (a draft: Relay's
    `status: "deleted"`, the document showing only the archived form)."""
    if status is None:
        return {"id": record.id, "status": "deleted", "message": "Notebook deleted successfully"}
    return {"id": record.id, "status": status.value, "message": "Notebook archived successfully"}


def market_item(record: NotebookRecord) -> dict[str, Any]:
    return {
        **_common(record),
        "priceCredits": record.price_credits,
        "gpuType": record.gpu_type.value,
        "runCount": record.run_count,
        "rating": _rating(record),
        "ratingCount": record.rating_count,
        "publishedAt": iso(record.published_at),
    }


def market_detail(record: NotebookRecord) -> dict[str, Any]:
    return {
        **market_item(record),
        "inputSchema": _schema(record.input_schema_json),
        "outputSchema": _schema(record.output_schema_json),
    }
