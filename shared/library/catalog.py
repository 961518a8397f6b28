"""The model list (GET /api/v1/models): its query-string contract and the Firestore query.

Semantics, one copy:
- category / subcategory / baseModel / type / hasMetadata are equality filters, matched
  case-insensitively on the effective values (user edits win), all through ONE
  `array_contains` on `facets` (records.facet_key); with no equality filter the key is "*",
  which every model carries, so every list is the same query shape.
- tags: a model must carry ALL listed tags (case-insensitive). The first tag is part of the
  facet key; further tags are matched in memory. `search` is a case-insensitive substring of
  the effective name, matched in memory.
- maxNsfwLevel: `nsfwLevel <= max`, a range filter in the same query.
- Order: the sort's field, then nsfwLevel ascending, then the document id (`__name__`, the
  id's decimal string, compared as a string) ascending, so ties are stable and every page
  boundary is exact. One composite index per sort serves the page, its count and the
  residual stream (see `query_shape`, test_library_indexes.py).
- Paging: offset (page-1)*limit, limit+1 read to know `hasMore`; `total` from a count
  aggregation of the same query (1 read per 1,000 index entries).
- Cost of residual filters (extra tags, search): Firestore cannot express them, so the
  matching part of the catalogue is streamed in sort order with only `name_lower` and
  `tags_normal` projected (one read per model the Firestore part matches), filtered here,
  and `total` / the page come from that stream; the page's documents are then fetched by id.
  Narrow such lists with an equality filter or a first tag to keep them cheap.
- Empty parameter values (`?category=`) mean "not given"; unknown or repeated parameters are
  400s, so a typo never silently widens a list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.library import records

DEFAULT_LIMIT = 40
MAX_LIMIT = 100
MAX_PAGE = 100_000  # Firestore offsets are int32 and billed: keep them bounded
MAX_TEXT = 200
MAX_TAGS = 20

ASCENDING = "ASCENDING"
DESCENDING = "DESCENDING"
TIE_BREAK = (("nsfwLevel", ASCENDING), ("__name__", ASCENDING))

# The list item fields (the document's `items[]`), projected so versions never travel.
ITEM_FIELDS = (
    "id",
    "name",
    "type",
    "category",
    "subcategory",
    "baseModel",
    "nsfwLevel",
    "creatorName",
    "creatorAvatar",
    "tags",
    "stats",
    "hasMetadata",
    "heroImage",
)
RESIDUAL_FIELDS = ("name_lower", "tags_normal")


def _strict_bool(value: Any) -> Any:
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in ("true", "1"):
            return True
        if folded in ("false", "0"):
            return False
        raise ValueError("must be true, false, 1 or 0")
    return value


def _tag_list(value: Any) -> Any:
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return value


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
Sort = Literal["newest", "oldest", "name", "downloads", "likes"]


class ListQuery(BaseModel):
    """GET /api/v1/models query parameters, as the document names them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: Text | None = None
    subcategory: Text | None = None
    baseModel: Text | None = None
    type: Text | None = None
    search: Text | None = None
    tags: Annotated[
        list[Annotated[str, Field(max_length=MAX_TEXT)]],
        BeforeValidator(_tag_list),
        Field(max_length=MAX_TAGS),
    ] = []
    maxNsfwLevel: int | None = Field(None, ge=0, le=records.NSFW_MAX)
    hasMetadata: Annotated[bool | None, BeforeValidator(_strict_bool)] = None
    sort: Sort = "newest"
    page: int = Field(1, ge=1, le=MAX_PAGE)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @classmethod
    def from_args(cls, pairs: Iterable[tuple[str, str]]) -> ListQuery:
        """From the query string's (name, value) pairs: unknown or repeated names are
        INVALID; empty values are dropped (not given). Bad values raise ValidationError."""
        seen: dict[str, str] = {}
        for name, value in pairs:
            if name not in cls.model_fields:
                raise AppError(ErrorKind.INVALID, f"Unknown query parameter: {name[:50]}")
            if name in seen:
                raise AppError(ErrorKind.INVALID, f"Query parameter given more than once: {name}")
            seen[name] = value
        return cls.model_validate({k: v for k, v in seen.items() if v.strip()})

    def equality(self) -> dict[str, Any]:
        values = {d: getattr(self, d) for d in records.FACET_DIMENSIONS}
        return {d: v for d, v in values.items() if v is not None}

    def normal_tags(self) -> list[str]:
        return records.normal_tags(self.tags)


@dataclass(frozen=True)
class Shape:
    """What a list query asks of Firestore's indexes."""

    collection: str
    array_contains: str
    orders: tuple[tuple[str, str], ...]
    range_field: str | None


def query_shape(q: ListQuery) -> Shape:
    field, descending = records.SORTS[q.sort]
    return Shape(
        collection=records.MODELS,
        array_contains="facets",
        orders=((field, DESCENDING if descending else ASCENDING), *TIE_BREAK),
        range_field="nsfwLevel" if q.maxNsfwLevel is not None else None,
    )


def _query(q: ListQuery) -> Any:
    tags = q.normal_tags()
    key = records.facet_key(q.equality(), tags[0] if tags else None)
    query = (
        db().collection(records.MODELS).where(filter=FieldFilter("facets", "array_contains", key))
    )
    if q.maxNsfwLevel is not None:
        query = query.where(filter=FieldFilter("nsfwLevel", "<=", q.maxNsfwLevel))
    for field, direction in query_shape(q).orders:
        query = query.order_by(field, direction=direction)
    return query


def _residual(q: ListQuery) -> Any:
    """A predicate over (name_lower, tags_normal) for what the query cannot express, or None."""
    extra = q.normal_tags()[1:]
    needle = q.search.casefold() if q.search else None
    if not extra and needle is None:
        return None

    def keep(doc: dict[str, Any]) -> bool:
        if needle is not None and needle not in (doc.get("name_lower") or ""):
            return False
        have = set(doc.get("tags_normal") or [])
        return all(t in have for t in extra)

    return keep


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]  # model documents, ITEM_FIELDS only, in order
    total: int
    has_more: bool


def list_models(q: ListQuery) -> Page:
    """One page of the list, its total and whether more follow (see the module docstring)."""
    query = _query(q)
    start = (q.page - 1) * q.limit
    keep = _residual(q)
    if keep is None:
        snaps = list(query.select(ITEM_FIELDS).offset(start).limit(q.limit + 1).stream())
        total = int(query.count().get()[0][0].value)
        return Page([s.to_dict() for s in snaps[: q.limit]], total, len(snaps) > q.limit)
    matched = [s.id for s in query.select(RESIDUAL_FIELDS).stream() if keep(s.to_dict())]
    ids = matched[start : start + q.limit]
    refs = [db().collection(records.MODELS).document(i) for i in ids]
    found = {s.id: s.to_dict() for s in db().get_all(refs, field_paths=ITEM_FIELDS) if s.exists}
    items = [found[i] for i in ids if i in found]
    return Page(items, len(matched), start + q.limit < len(matched))
