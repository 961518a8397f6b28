"""Tarsify notebooks (deprecated, kept working as documented): records and their lifecycle.

Invariants:
- A notebook belongs to one registered developer; every studio read and write is scoped to
  the caller's account, and another developer's notebook is indistinguishable from a missing
  one (ERR_3001).
- A slug is taken once among notebooks: the record and its claim document
  (`market_slugs/notebook:<slug>`) are created in one batch; a deleted draft releases it,
  an archived notebook keeps it. The slug never changes after creation.
- Status moves draft -> published (only with title, description, shortDescription and an
  uploaded file), published -> draft (unpublish), published -> archived (delete); a draft is
  deleted outright. gpuType and priceCredits cannot change while published (ERR_4004).
- Every state change is a write preconditioned on the version that was read (`change`), so
  racing requests are serialised: none can publish a notebook whose file another removed.
  A change carries a write token, so a commit whose response was lost is recognised as ours.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from shared.engine import clock, store
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import CONFLICTS, db
from shared.market import records
from shared.market.developers import require as require_developer
from shared.market.errors import coded

SLUG_KIND = "notebook"
MAX_SLUG_BASE = 90  # room for a `-<n>` suffix within the 100 characters a path slug may have
MAX_SLUG_TRIES = 50
MAX_CHANGE_TRIES = 5
WRITE_TOKEN = "write_token"


class NotebookStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class NotebookCategory(StrEnum):
    """The marketplace categories and the document's `*_PROCESSING` forms (its example)."""

    IMAGE = "IMAGE"
    AUDIO = "AUDIO"
    TEXT = "TEXT"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"
    IMAGE_PROCESSING = "IMAGE_PROCESSING"
    AUDIO_PROCESSING = "AUDIO_PROCESSING"
    TEXT_PROCESSING = "TEXT_PROCESSING"
    VIDEO_PROCESSING = "VIDEO_PROCESSING"
    DOCUMENT_PROCESSING = "DOCUMENT_PROCESSING"

    @property
    def family(self) -> str:
        return self.value.removesuffix("_PROCESSING")


_code = coded


def not_found(message: str = "Notebook not found") -> AppError:
    return _code(ErrorKind.NOT_FOUND, "ERR_3001", message)


def state_invalid(message: str, **details: Any) -> AppError:
    return _code(ErrorKind.INVALID, "ERR_3004", message, **details)


def published_locked(message: str, **details: Any) -> AppError:
    return _code(ErrorKind.INVALID, "ERR_4004", message, **details)


class NotebookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=3, max_length=100)
    description: str | None = Field(None, max_length=20_000)
    shortDescription: str | None = Field(None, max_length=200)
    category: NotebookCategory | None = None
    gpuType: records.GpuType = records.GpuType.T4
    priceCredits: int = Field(0, ge=0, le=10_000, strict=True)


class NotebookUpdate(BaseModel):
    """PUT /notebooks/:id: only the fields given change; null clears an optional one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(None, min_length=3, max_length=100)  # type: ignore[assignment]
    description: str | None = Field(None, max_length=20_000)
    shortDescription: str | None = Field(None, max_length=200)
    thumbnailUrl: HttpUrl | None = None  # http or https
    category: NotebookCategory | None = None
    gpuType: records.GpuType = Field(None)  # type: ignore[assignment]
    priceCredits: int = Field(None, ge=0, le=10_000, strict=True)  # type: ignore[assignment]


class NotebookRecord(BaseModel):
    id: str
    developer_id: str
    title: str
    slug: str
    description: str | None = None
    short_description: str | None = None
    thumbnail_url: str | None = None
    category: NotebookCategory | None = None
    status: NotebookStatus = NotebookStatus.DRAFT
    price_credits: int = 0
    gpu_type: records.GpuType = records.GpuType.T4
    file_path: str | None = None  # the Cloud Storage object of the current upload
    file_size: int | None = None
    file_uploaded_at: dt.datetime | None = None
    input_schema_json: str | None = None  # no route sets them (the document shows them)
    output_schema_json: str | None = None
    run_count: int = 0  # notebooks never run on Relay
    rating_count: int = 0
    rating_sum: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None = None


def _ref(notebook_id: str) -> Any:
    return db().collection(records.NOTEBOOKS).document(notebook_id)


def _record(snap: Any) -> NotebookRecord:
    fields = {k: v for k, v in (snap.to_dict() or {}).items() if k != WRITE_TOKEN}
    return NotebookRecord(id=snap.id, **fields)


def _owned_snapshot(*, developer_id: str, notebook_id: str) -> Any:
    snap = _ref(notebook_id).get()
    if not snap.exists or (snap.to_dict() or {}).get("developer_id") != developer_id:
        raise not_found()
    return snap


def get_own(*, developer_id: str, notebook_id: str) -> NotebookRecord:
    require_developer(developer_id)
    return _record(_owned_snapshot(developer_id=developer_id, notebook_id=notebook_id))


def change(
    *,
    developer_id: str,
    notebook_id: str,
    decide: Callable[[NotebookRecord], dict[str, Any] | None],
    label: str,
) -> NotebookRecord:
    """Apply `decide(record)`'s fields to the notebook as read, preconditioned on that read.

    `decide` raises to refuse the change; None means delete the record (and release its
    slug). A lost race is re-read and decided again; a landed write whose response was lost
    is recognised by its token. Returns the record as written (as it was, for a delete).
    """
    from google.cloud import firestore

    require_developer(developer_id)
    for _ in range(MAX_CHANGE_TRIES):
        snap = _owned_snapshot(developer_id=developer_id, notebook_id=notebook_id)
        record = _record(snap)
        fields = decide(record)
        option = firestore.Client.write_option(last_update_time=snap.update_time)
        batch = db().batch()
        token = uuid.uuid4().hex
        if fields is None:
            batch.delete(snap.reference, option=option)
            claim = records.slug_claim_id(SLUG_KIND, record.slug)
            batch.delete(db().collection(records.SLUGS).document(claim))
        else:
            fields = {**fields, "updated_at": clock.now(), WRITE_TOKEN: token}
            batch.update(snap.reference, fields, option=option)
        try:
            store.commit(batch, label=label)
        except CONFLICTS:
            after = snap.reference.get()
            if fields is None and not after.exists:
                return record  # deleted: by us (response lost) or by a racing delete
            if after.exists and (after.to_dict() or {}).get(WRITE_TOKEN) == token:
                return _record(after)
            continue
        return record if fields is None else _record(snap.reference.get())
    raise _code(ErrorKind.CONFLICT, "ERR_3003", "The notebook is being changed; try again")


# --- create ------------------------------------------------------------------------------


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:MAX_SLUG_BASE].strip("-") or "notebook"


def create(*, developer_id: str, body: NotebookCreate) -> NotebookRecord:
    """A draft notebook with the first free slug of its title (`-2`, `-3`, ... after)."""
    require_developer(developer_id)
    now = clock.now()
    base = slugify(body.title)
    slugs = db().collection(records.SLUGS)
    for n in range(1, MAX_SLUG_TRIES + 1):
        slug = base if n == 1 else f"{base}-{n}"
        claim = slugs.document(records.slug_claim_id(SLUG_KIND, slug))
        if claim.get().exists:
            continue
        record = NotebookRecord(
            id=str(uuid.uuid4()),
            developer_id=developer_id,
            title=body.title,
            slug=slug,
            description=body.description,
            short_description=body.shortDescription,
            category=body.category,
            gpu_type=body.gpuType,
            price_credits=body.priceCredits,
            created_at=now,
            updated_at=now,
        )
        batch = db().batch()
        batch.create(claim, {"id": record.id})
        batch.create(_ref(record.id), record.model_dump(mode="python", exclude={"id"}))
        try:
            store.commit(batch, label="market.notebook.create")
        except CONFLICTS:
            if _ref(record.id).get().exists:
                return record  # ours landed; its response was lost
            continue  # a racing create took this slug
        return record
    raise _code(ErrorKind.CONFLICT, "ERR_5503", "Slug already exists", slug=base)


# --- update ------------------------------------------------------------------------------

_UPDATABLE = {
    "title": "title",
    "description": "description",
    "shortDescription": "short_description",
    "thumbnailUrl": "thumbnail_url",
    "category": "category",
    "gpuType": "gpu_type",
    "priceCredits": "price_credits",
}
_LOCKED_WHEN_PUBLISHED = ("gpuType", "priceCredits")
_REQUIRED_TO_PUBLISH = {
    "title": "title",
    "description": "description",
    "shortDescription": "short_description",
}


def update(*, developer_id: str, notebook_id: str, body: NotebookUpdate) -> NotebookRecord:
    given = body.model_dump(mode="json", include=body.model_fields_set)

    def decide(record: NotebookRecord) -> dict[str, Any]:
        if record.status is NotebookStatus.ARCHIVED:
            raise state_invalid("An archived notebook cannot be changed")
        current = record.model_dump(mode="json")
        fields = {_UPDATABLE[name]: value for name, value in given.items()}
        if record.status is NotebookStatus.PUBLISHED:
            locked = [
                name
                for name in _LOCKED_WHEN_PUBLISHED
                if name in given and fields[_UPDATABLE[name]] != current[_UPDATABLE[name]]
            ]
            if locked:
                raise published_locked(
                    "gpuType and priceCredits cannot change after publishing; "
                    "create a new version instead",
                    fields=locked,
                )
            cleared = [n for n, f in _REQUIRED_TO_PUBLISH.items() if f in fields and not fields[f]]
            if cleared:
                raise published_locked("A published notebook keeps these fields", fields=cleared)
        return fields

    return change(
        developer_id=developer_id, notebook_id=notebook_id, decide=decide, label="market.notebook"
    )


# --- delete, publish, unpublish ----------------------------------------------------------


def remove(*, developer_id: str, notebook_id: str) -> tuple[NotebookRecord, NotebookStatus | None]:
    """Archive a published notebook (kept, with its file) or delete a draft (record, slug
    claim, then its file). Deleting an archived notebook again answers as archived.
    Returns the record and its new status (None: deleted)."""

    def decide(record: NotebookRecord) -> dict[str, Any] | None:
        if record.status is NotebookStatus.PUBLISHED:
            return {"status": str(NotebookStatus.ARCHIVED)}
        if record.status is NotebookStatus.ARCHIVED:
            return {}
        return None

    before = get_own(developer_id=developer_id, notebook_id=notebook_id)
    if before.status is NotebookStatus.ARCHIVED:
        return before, NotebookStatus.ARCHIVED
    record = change(
        developer_id=developer_id, notebook_id=notebook_id, decide=decide, label="market.notebook"
    )
    if record.status is NotebookStatus.ARCHIVED:
        return record, NotebookStatus.ARCHIVED
    if record.file_path:
        from shared.market import notebook_files

        notebook_files.delete_object(record.file_path)
    return record, None


def missing_for_publish(record: NotebookRecord) -> list[str]:
    missing = [name for name, field in _REQUIRED_TO_PUBLISH.items() if not getattr(record, field)]
    if not record.file_path:
        missing.append("file")
    return missing


def publish(*, developer_id: str, notebook_id: str) -> NotebookRecord:
    def decide(record: NotebookRecord) -> dict[str, Any]:
        if record.status is not NotebookStatus.DRAFT:
            raise state_invalid(f"Only a draft can be published (it is {record.status})")
        missing = missing_for_publish(record)
        if missing:
            message = (
                "Missing notebook file"
                if missing == ["file"]
                else "Notebook not ready for publishing (missing required fields)"
            )
            raise state_invalid(message, missing=missing)
        return {"status": str(NotebookStatus.PUBLISHED), "published_at": clock.now()}

    return change(
        developer_id=developer_id, notebook_id=notebook_id, decide=decide, label="market.notebook"
    )


def unpublish(*, developer_id: str, notebook_id: str) -> NotebookRecord:
    def decide(record: NotebookRecord) -> dict[str, Any]:
        if record.status is not NotebookStatus.PUBLISHED:
            raise state_invalid("Cannot unpublish notebook that is not published")
        return {"status": str(NotebookStatus.DRAFT)}

    return change(
        developer_id=developer_id, notebook_id=notebook_id, decide=decide, label="market.notebook"
    )


# --- reads -------------------------------------------------------------------------------


def _where(field: str, value: str) -> list[NotebookRecord]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db().collection(records.NOTEBOOKS).where(filter=FieldFilter(field, "==", value))
    return [_record(snap) for snap in query.stream()]


def owned_by(developer_id: str) -> list[NotebookRecord]:
    require_developer(developer_id)
    return _where("developer_id", developer_id)


def published() -> list[NotebookRecord]:
    return _where("status", str(NotebookStatus.PUBLISHED))


def by_slug(slug: str) -> NotebookRecord:
    """Any notebook by slug (the marketplace decides what it may show)."""
    claim = db().collection(records.SLUGS).document(records.slug_claim_id(SLUG_KIND, slug)).get()
    notebook_id = (claim.to_dict() or {}).get("id") if claim.exists else None
    snap = _ref(notebook_id).get() if isinstance(notebook_id, str) else None
    if snap is None or not snap.exists:
        raise not_found()
    return _record(snap)


def get_published(slug: str) -> NotebookRecord:
    """The marketplace's view: unknown -> ERR_3001; known but not published -> ERR_4003."""
    record = by_slug(slug)
    if record.status is not NotebookStatus.PUBLISHED:
        raise _code(ErrorKind.INVALID, "ERR_4003", "Notebook not published")
    return record
