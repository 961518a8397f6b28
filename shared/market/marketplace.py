"""The public marketplace's reads: published tars models, listed and by slug.

- Only PUBLISHED models are ever shown; a draft's or an archived model's slug answers
  ERR_5500 exactly like an unknown one.
- The list shows only models a consumer can run now: base model present and active, its
  endpoint active. (A model's own page stays readable while an admin has its base model
  paused; running it answers ERR_5509/ERR_5502.)
- Firestore has no full-text search, so the list reads the `SCAN_LIMIT` most recently
  published models (one bounded, indexed query: status, published_at desc), then filters
  category and search (case-insensitive substring of title or description) in memory and
  cuts the page. Models published before the newest `SCAN_LIMIT` are not listed.
"""

from __future__ import annotations

from typing import Annotated

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import StringConstraints

from shared.engine.store import db
from shared.market import records, tars_models
from shared.market.paging import PageQuery, cut
from shared.market.records import Category, TarsStatus
from shared.market.tars_models import TarsModel

SCAN_LIMIT = 1_000
Search = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class MarketQuery(PageQuery):
    category: Category | None = None
    search: Search | None = None


def _active_endpoints(ids: set[str]) -> set[str]:
    refs = [db().collection(records.ENDPOINTS).document(i) for i in sorted(ids)]
    snaps = db().get_all(refs) if refs else ()
    return {s.id for s in snaps if s.exists and s.to_dict().get("is_active", True)}


def developer_names(ids: set[str]) -> dict[str, str | None]:
    """Each developer's public name (their display name; None when they have not set one)."""
    refs = [db().collection(records.DEVELOPERS).document(i) for i in sorted(ids)]
    snaps = db().get_all(refs) if refs else ()
    return {s.id: s.to_dict().get("display_name") for s in snaps if s.exists}


def _matches(model: TarsModel, query: MarketQuery) -> bool:
    if query.category is not None and model.base and model.base.category != query.category:
        return False
    if query.search:
        needle = query.search.casefold()
        text = f"{model.record.title}\n{model.record.description or ''}".casefold()
        return needle in text
    return True


def list_published(query: MarketQuery) -> tuple[list[tuple[TarsModel, str | None]], int]:
    """One page of runnable published models, newest published first, and the total."""
    q = (
        db()
        .collection(records.TARS_MODELS)
        .where(filter=FieldFilter("status", "==", str(TarsStatus.PUBLISHED)))
        .order_by("published_at", direction=firestore.Query.DESCENDING)
        .limit(SCAN_LIMIT)
    )
    found = [records.TarsModelRecord(id=s.id, **s.to_dict()) for s in q.stream()]
    bases = tars_models.base_models({r.base_model_id for r in found})
    live = _active_endpoints({b.endpoint_id for b in bases.values() if b.is_active})
    runnable = [
        TarsModel(r, bases[r.base_model_id])
        for r in found
        if r.base_model_id in bases
        and bases[r.base_model_id].is_active
        and bases[r.base_model_id].endpoint_id in live
    ]
    matching = [m for m in runnable if _matches(m, query)]
    page = cut(matching, page=query.page, limit=query.limit)
    owners = developer_names({m.record.developer_id for m in page})
    return [(m, owners.get(m.record.developer_id)) for m in page], len(matching)


def published(slug: str) -> tuple[TarsModel, str | None]:
    """A published model's page: ERR_5500 unless `slug` is a PUBLISHED model's."""
    record = tars_models.get_by_slug(slug)
    if record is None or record.status is not TarsStatus.PUBLISHED:
        raise tars_models.not_found()
    base = tars_models.base_models({record.base_model_id}).get(record.base_model_id)
    if base is None:
        raise tars_models.not_found()
    return TarsModel(record, base), developer_names({record.developer_id}).get(record.developer_id)
