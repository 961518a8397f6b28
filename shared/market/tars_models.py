"""Tars models: a creator's configured, priced model on a base model, DRAFT -> PUBLISHED ->
ARCHIVED.

Invariants kept here:
- A tars model belongs to one registered developer (ERR_1004 for an unregistered caller);
  any other caller is told ERR_5500, exactly as for a model that does not exist.
- Its slug is unique among tars models: the claim `market_slugs/tars:<slug>` is created in
  the same batch as the model (or as the slug change, which releases the old claim in that
  batch) and deleted in the same batch as the model, so two racing creates of one slug give
  one model and one ERR_5503, and no claim outlives its model.
- Status moves only DRAFT -> PUBLISHED -> ARCHIVED (ERR_5504 otherwise); a PUBLISHED model
  is never deleted (archive first). Every change is written with a precondition on the
  snapshot it was decided from, so of two racing moves exactly one lands.
- Publishing needs the base model active (ERR_5509) and its endpoint active (ERR_5502).
- `configOverrides` and `priceCredits` are valid for the base model whenever written
  (shared.market.overrides); a refused request writes nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from shared.engine import clock, store
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import CONFLICTS, db
from shared.market import records
from shared.market.developers import require as _require_developer
from shared.market.errors import coded
from shared.market.overrides import check_overrides, check_price
from shared.market.paging import PageQuery
from shared.market.records import BaseModelRecord, TarsModelRecord, TarsStatus

SLUG_KIND = "tars"
SLUG_PATTERN = records.SLUG_PATTERN
# The only moves: target status -> the status it may be reached from.
MOVES = {TarsStatus.PUBLISHED: TarsStatus.DRAFT, TarsStatus.ARCHIVED: TarsStatus.PUBLISHED}


def _storable(value: str) -> str:
    """Firestore stores UTF-8 only: a lone surrogate (legal in JSON text) is refused here."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=100),
    AfterValidator(_storable),
]
Slug = Annotated[str, StringConstraints(min_length=3, max_length=100, pattern=SLUG_PATTERN)]
Description = Annotated[str, StringConstraints(max_length=5000), AfterValidator(_storable)]
Price = Annotated[StrictInt, Field(ge=0)]


class TarsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    slug: Slug
    description: Description | None = None
    base_model_id: uuid.UUID = Field(alias="baseModelId")
    config_overrides: dict[str, Any] = Field(default_factory=dict, alias="configOverrides")
    price_credits: Price | None = Field(None, alias="priceCredits")  # Relay extension


class TarsUpdate(BaseModel):
    """Only the fields sent change. `description: null` clears it, `priceCredits: null`
    returns to the base model's price; title, slug and configOverrides cannot be null."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    slug: Slug | None = None
    description: Description | None = None
    config_overrides: dict[str, Any] | None = Field(None, alias="configOverrides")
    price_credits: Price | None = Field(None, alias="priceCredits")

    @model_validator(mode="after")
    def _not_null(self) -> TarsUpdate:
        for name in ("title", "slug", "config_overrides"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class TarsListQuery(PageQuery):
    status: TarsStatus | None = None


@dataclass(frozen=True)
class TarsModel:
    """A tars model with its base model (None when an admin has removed it)."""

    record: TarsModelRecord
    base: BaseModelRecord | None


def _fail(code: str, message: str, kind: ErrorKind, **details: Any) -> AppError:
    return coded(kind, code, message, **details)


def not_found() -> AppError:
    return _fail("ERR_5500", "Tars model not found", ErrorKind.NOT_FOUND)


def _ref(model_id: str) -> Any:
    return db().collection(records.TARS_MODELS).document(model_id)


def _claim_ref(slug: str) -> Any:
    return db().collection(records.SLUGS).document(records.slug_claim_id(SLUG_KIND, slug))


def _claim_holder(slug: str) -> str | None:
    snap = _claim_ref(slug).get()
    return str(snap.to_dict().get("id")) if snap.exists else None


def _record(snap: Any) -> TarsModelRecord:
    return TarsModelRecord(id=snap.id, **snap.to_dict())


def _precondition(snap: Any) -> Any:
    return firestore.Client.write_option(last_update_time=snap.update_time)


# --- reads -------------------------------------------------------------------------------


def base_models(ids: set[str]) -> dict[str, BaseModelRecord]:
    refs = [db().collection(records.BASE_MODELS).document(i) for i in sorted(ids)]
    found = (s for s in db().get_all(refs) if s.exists) if refs else ()
    return {s.id: BaseModelRecord(id=s.id, **s.to_dict()) for s in found}


def load_base(base_model_id: str) -> BaseModelRecord:
    base = base_models({base_model_id}).get(base_model_id)
    if base is None:
        raise _fail("ERR_5508", "Base model not found", ErrorKind.NOT_FOUND)
    return base


def get(model_id: str) -> TarsModelRecord | None:
    """The tars model with this id, in any status (None when there is none)."""
    snap = _ref(model_id).get()
    return _record(snap) if snap.exists else None


def get_by_slug(slug: str) -> TarsModelRecord | None:
    """The tars model holding this slug, in any status (None when none does)."""
    holder = _claim_holder(slug)
    record = get(holder) if holder else None
    return record if record is not None and record.slug == slug else None


def get_published_by_slug(slug: str) -> TarsModelRecord:
    """The model a consumer can run: ERR_5500 when no model holds the slug, ERR_5501 when
    it is not PUBLISHED (a draft or an archived model)."""
    record = get_by_slug(slug)
    if record is None:
        raise not_found()
    if record.status is not TarsStatus.PUBLISHED:
        raise _fail("ERR_5501", "Model not published", ErrorKind.INVALID)
    return record


def _owned(*, account_id: str, model_id: str) -> tuple[Any, TarsModelRecord]:
    snap = _ref(model_id).get()
    if not snap.exists:
        raise not_found()
    record = _record(snap)
    if record.developer_id != account_id:
        raise not_found()  # never reveal another developer's model
    return snap, record


def _with_base(record: TarsModelRecord) -> TarsModel:
    return TarsModel(record, base_models({record.base_model_id}).get(record.base_model_id))


def read_own(*, account_id: str, model_id: str) -> TarsModel:
    _require_developer(account_id)
    return _with_base(_owned(account_id=account_id, model_id=model_id)[1])


def list_own(*, account_id: str, query: TarsListQuery) -> tuple[list[TarsModel], int]:
    """The developer's models, newest first, one page of them, and how many there are."""
    _require_developer(account_id)
    q = (
        db()
        .collection(records.TARS_MODELS)
        .where(filter=FieldFilter("developer_id", "==", account_id))
    )
    if query.status is not None:
        q = q.where(filter=FieldFilter("status", "==", str(query.status)))
    total = int(q.count().get()[0][0].value)
    page = (
        q.order_by("created_at", direction=firestore.Query.DESCENDING)
        .offset((query.page - 1) * query.limit)
        .limit(query.limit)
    )
    found = [_record(s) for s in page.stream()]
    bases = base_models({r.base_model_id for r in found})
    return [TarsModel(r, bases.get(r.base_model_id)) for r in found], total


# --- writes ------------------------------------------------------------------------------


def _stored(record: TarsModelRecord) -> dict[str, Any]:
    data = record.model_dump(mode="python", exclude={"id"})
    data["status"] = str(record.status)
    return data


def create(*, account_id: str, request: TarsCreate) -> TarsModel:
    _require_developer(account_id)
    base = load_base(str(request.base_model_id))
    if not base.is_active:
        raise _fail("ERR_5509", "Base model not active", ErrorKind.INVALID)
    check_overrides(base=base, overrides=request.config_overrides)
    check_price(base=base, price_credits=request.price_credits)
    now = clock.now()
    record = TarsModelRecord(
        id=str(uuid.uuid4()),
        developer_id=account_id,
        title=request.title,
        slug=request.slug,
        description=request.description,
        base_model_id=base.id,
        config_overrides_json=json.dumps(request.config_overrides),
        price_credits=request.price_credits,
        status=TarsStatus.DRAFT,
        created_at=now,
        updated_at=now,
    )
    batch = db().batch()
    batch.create(_claim_ref(record.slug), {"id": record.id})
    batch.create(_ref(record.id), _stored(record))
    try:
        store.commit(batch, label="market.tars.create")
    except CONFLICTS:
        if _claim_holder(record.slug) != record.id:  # else: ours landed, its reply was lost
            raise _fail("ERR_5503", "Slug already exists", ErrorKind.CONFLICT) from None
    return TarsModel(record, base)


def _changed_concurrently() -> AppError:
    return _fail("ERR_3003", "The model changed meanwhile; retry", ErrorKind.CONFLICT)


def update(*, account_id: str, model_id: str, request: TarsUpdate) -> TarsModel:
    _require_developer(account_id)
    snap, record = _owned(account_id=account_id, model_id=model_id)
    sent = request.model_fields_set
    fields: dict[str, Any] = {}
    for name in ("title", "description"):
        if name in sent:
            fields[name] = getattr(request, name)
    if "config_overrides" in sent or "price_credits" in sent:
        base = load_base(record.base_model_id)
        if "config_overrides" in sent and request.config_overrides is not None:
            check_overrides(base=base, overrides=request.config_overrides)
            fields["config_overrides_json"] = json.dumps(request.config_overrides)
        if "price_credits" in sent:
            check_price(base=base, price_credits=request.price_credits)
            fields["price_credits"] = request.price_credits
    new_slug = request.slug if request.slug not in (None, record.slug) else None
    if new_slug is not None:
        fields["slug"] = new_slug
    fields["updated_at"] = clock.now()
    batch = db().batch()
    batch.update(_ref(record.id), fields, option=_precondition(snap))
    if new_slug is not None:
        batch.create(_claim_ref(new_slug), {"id": record.id})
        batch.delete(_claim_ref(record.slug))
    try:
        store.commit(batch, label="market.tars.update")
    except CONFLICTS:
        holder = _claim_holder(new_slug) if new_slug is not None else None
        if holder is not None and holder != record.id:
            raise _fail("ERR_5503", "Slug already exists", ErrorKind.CONFLICT) from None
        if holder is None:
            raise _changed_concurrently() from None
    updated = get(record.id)
    if updated is None:
        raise not_found()  # deleted meanwhile
    return _with_base(updated)


def delete(*, account_id: str, model_id: str) -> None:
    """Remove a DRAFT or ARCHIVED model and release its slug."""
    _require_developer(account_id)
    snap, record = _owned(account_id=account_id, model_id=model_id)
    if record.status is TarsStatus.PUBLISHED:
        raise _fail(
            "ERR_5504", "Cannot delete a published model; archive it first", ErrorKind.INVALID
        )
    batch = db().batch()
    batch.delete(_ref(record.id), option=_precondition(snap))
    batch.delete(_claim_ref(record.slug))
    try:
        store.commit(batch, label="market.tars.delete")
    except CONFLICTS:
        now = get(record.id)
        if now is None:
            return  # gone: ours landed, or a racing delete of the same owner did
        if now.status is TarsStatus.PUBLISHED:
            raise _fail(
                "ERR_5504", "Cannot delete a published model; archive it first", ErrorKind.INVALID
            ) from None
        raise _changed_concurrently() from None


def _check_runnable(base_model_id: str) -> None:
    base = load_base(base_model_id)
    if not base.is_active:
        raise _fail("ERR_5509", "Base model not active", ErrorKind.INVALID)
    endpoint = db().collection(records.ENDPOINTS).document(base.endpoint_id).get()
    if not endpoint.exists or not endpoint.to_dict().get("is_active", True):
        raise _fail("ERR_5502", "Endpoint not active", ErrorKind.INVALID)


def _bad_move(record: TarsModelRecord, to: TarsStatus) -> AppError:
    message = f"Cannot move a {record.status} model to {to}"
    return _fail("ERR_5504", message, ErrorKind.INVALID, status=str(record.status))


def move(*, account_id: str, model_id: str, to: TarsStatus) -> TarsModel:
    """Publish (DRAFT -> PUBLISHED) or archive (PUBLISHED -> ARCHIVED)."""
    _require_developer(account_id)
    snap, record = _owned(account_id=account_id, model_id=model_id)
    if MOVES.get(to) is not record.status:
        raise _bad_move(record, to)
    if to is TarsStatus.PUBLISHED:
        _check_runnable(record.base_model_id)
    now = clock.now()
    fields: dict[str, Any] = {"status": str(to), "updated_at": now}
    if to is TarsStatus.PUBLISHED:
        fields["published_at"] = now
    batch = db().batch()
    batch.update(_ref(record.id), fields, option=_precondition(snap))
    try:
        store.commit(batch, label="market.tars.move")
    except CONFLICTS:
        current = get(record.id)
        if current is None:
            raise not_found() from None
        if current.status is not to or current.updated_at != now:  # else: ours landed
            if MOVES.get(to) is not current.status:
                raise _bad_move(current, to) from None
            raise _changed_concurrently() from None
    return _with_base(record.model_copy(update={**fields, "status": to}))
