"""The catalog: RunPod (or Modal) endpoints and the base models served on them.

Invariants: a `runpodEndpointId` names at most one endpoint and a slug at most one base
model, each held by a claim document (`market_slugs/endpoint:<id>`, `base:<slug>`) created
in the same batch as the record that takes it, so two racing creates cannot both win
(ERR_3002). An update re-checks the merged record as a whole and commits only if the
record has not changed since it was read (ERR_3003 otherwise), moving a claim in the same
batch. A base model always names an endpoint that exists: writing one also writes its
endpoint under a last-update precondition, and deleting an endpoint is conditional on it
being unchanged since its in-use check, so the two cannot interleave. An endpoint a base
model uses, and a base model a tars model uses, cannot be deleted (ERR_3003). A base
model's input schema and fixed input are stored as JSON text (records.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel, ValidationError

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.market import developers, records
from shared.market.catalog_models import (
    BaseModelCreate,
    BaseModelUpdate,
    EndpointCreate,
    EndpointUpdate,
    render_admin_base_model,
    render_studio_base_model,
    stored_json,
)
from shared.market.errors import coded

ENDPOINT_CLAIM = "endpoint"
BASE_CLAIM = "base"


_err = coded


def _not_found(what: str) -> AppError:
    return _err(ErrorKind.NOT_FOUND, "ERR_3001", f"{what} not found")


def _claim(kind: str, value: str) -> Any:
    return db().collection(records.SLUGS).document(records.slug_claim_id(kind, value))


def _data(record: BaseModel) -> dict[str, Any]:
    return record.model_dump(mode="python", exclude={"id"})


def _commit(batch: Any, *, taken: str) -> None:
    """Commit a catalog batch: a claim already held is ERR_3002, a record changed or gone
    since it was read is ERR_3003."""
    try:
        batch.commit()
    except gexc.AlreadyExists:
        raise _err(ErrorKind.CONFLICT, "ERR_3002", f"{taken} already exists") from None
    except (gexc.FailedPrecondition, gexc.NotFound, gexc.Conflict):
        raise _err(
            ErrorKind.CONFLICT, "ERR_3003", "The record changed meanwhile; try again"
        ) from None


def _merged(model: type[records.Endpoint | records.BaseModelRecord], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e["msg"]}
            for e in exc.errors()[:20]
        ]
        raise AppError(
            ErrorKind.INVALID, "Invalid request body", {"code": "ERR_2001", "fields": fields}
        ) from None


def _release_claim(batch: Any, claim: Any, record_id: str) -> None:
    """Delete `claim` in `batch` if (still) held by `record_id`: records written without a
    claim (test fixtures, older data) never release another record's."""
    held = claim.get()
    if held.exists and held.get("id") == record_id:
        batch.delete(claim, option=db().write_option(last_update_time=held.update_time))


def _is_used(collection: str, field: str, record_id: str) -> bool:
    query = db().collection(collection).where(filter=FieldFilter(field, "==", record_id))
    return any(True for _ in query.limit(1).stream())


def _newest_first(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda r: (r.created_at, r.id), reverse=True)


# --- endpoints ---------------------------------------------------------------------------


def _endpoints() -> Any:
    return db().collection(records.ENDPOINTS)


def _endpoint(snap: Any) -> records.Endpoint:
    return records.Endpoint.model_validate({**snap.to_dict(), "id": snap.id})


def get_endpoint(endpoint_id: str) -> records.Endpoint | None:
    snap = _endpoints().document(endpoint_id).get()
    return _endpoint(snap) if snap.exists else None


def list_endpoints() -> list[records.Endpoint]:
    return _newest_first([_endpoint(s) for s in _endpoints().stream()])


def create_endpoint(*, request: EndpointCreate, record_id: str | None = None) -> records.Endpoint:
    now = clock.now()
    endpoint = records.Endpoint(
        id=record_id or str(uuid.uuid4()),
        **request.model_dump(),
        created_at=now,
        updated_at=now,
    )
    batch = db().batch()
    batch.create(_endpoints().document(endpoint.id), _data(endpoint))
    batch.create(_claim(ENDPOINT_CLAIM, endpoint.runpod_endpoint_id), {"id": endpoint.id})
    _commit(batch, taken="runpodEndpointId")
    return endpoint


def update_endpoint(*, endpoint_id: str, request: EndpointUpdate) -> records.Endpoint:
    ref = _endpoints().document(endpoint_id)
    snap = ref.get()
    if not snap.exists:
        raise _not_found("Endpoint")
    current = _endpoint(snap)
    changes = request.model_dump(exclude_unset=True)
    updated = _merged(
        records.Endpoint, {**current.model_dump(), **changes, "updated_at": clock.now()}
    )
    batch = db().batch()
    batch.update(ref, _data(updated), option=db().write_option(last_update_time=snap.update_time))
    if updated.runpod_endpoint_id != current.runpod_endpoint_id:
        batch.create(_claim(ENDPOINT_CLAIM, updated.runpod_endpoint_id), {"id": endpoint_id})
        _release_claim(batch, _claim(ENDPOINT_CLAIM, current.runpod_endpoint_id), endpoint_id)
    _commit(batch, taken="runpodEndpointId")
    return updated


def delete_endpoint(*, endpoint_id: str) -> None:
    ref = _endpoints().document(endpoint_id)
    snap = ref.get()
    if not snap.exists:
        raise _not_found("Endpoint")
    if _is_used(records.BASE_MODELS, "endpoint_id", endpoint_id):
        raise _err(ErrorKind.CONFLICT, "ERR_3003", "A base model still uses this endpoint")
    endpoint = _endpoint(snap)
    batch = db().batch()
    batch.delete(ref, option=db().write_option(last_update_time=snap.update_time))
    _release_claim(batch, _claim(ENDPOINT_CLAIM, endpoint.runpod_endpoint_id), endpoint_id)
    _commit(batch, taken="runpodEndpointId")


# --- base models -------------------------------------------------------------------------


def _base_models() -> Any:
    return db().collection(records.BASE_MODELS)


def _base_model(snap: Any) -> records.BaseModelRecord:
    return records.BaseModelRecord.model_validate({**snap.to_dict(), "id": snap.id})


def get_base_model(base_model_id: str) -> records.BaseModelRecord | None:
    snap = _base_models().document(base_model_id).get()
    return _base_model(snap) if snap.exists else None


def list_base_models() -> list[records.BaseModelRecord]:
    """Every base model, newest first (admin)."""
    return _newest_first([_base_model(s) for s in _base_models().stream()])


def active_base_models(
    *, category: records.Category | None = None
) -> list[records.BaseModelRecord]:
    """The base models a developer may build on, by name (studio)."""
    query = _base_models().where(filter=FieldFilter("is_active", "==", True))
    if category is not None:
        query = query.where(filter=FieldFilter("category", "==", str(category)))
    return sorted((_base_model(s) for s in query.stream()), key=lambda b: (b.name, b.id))


def studio_base_models(
    *, account_id: str, category: records.Category | None
) -> list[dict[str, Any]]:
    """`GET /api/studio/base-models`: for registered developers only (ERR_1004)."""
    developers.require(account_id)
    return [render_studio_base_model(b) for b in active_base_models(category=category)]


def admin_base_models() -> list[dict[str, Any]]:
    """`GET /api/admin/base-models`: every base model with its endpoint's id and name."""
    models = list_base_models()
    endpoints = endpoints_by_id({m.endpoint_id for m in models})
    return [render_admin_base_model(m, endpoints.get(m.endpoint_id)) for m in models]


def render_admin(base: records.BaseModelRecord) -> dict[str, Any]:
    return render_admin_base_model(base, get_endpoint(base.endpoint_id))


def endpoints_by_id(ids: set[str]) -> dict[str, records.Endpoint]:
    refs = [_endpoints().document(i) for i in sorted(ids)]
    snaps = db().get_all(refs) if refs else []
    return {s.id: _endpoint(s) for s in snaps if s.exists}


def _reference_endpoint(batch: Any, endpoint_id: str) -> None:
    """Add to `batch` a write that lands only if the endpoint exists, unchanged since read
    here (ERR_3001 when it does not). It moves the endpoint's update time, so a delete that
    read the endpoint before this batch landed fails its own precondition instead of
    leaving a base model on a deleted endpoint."""
    snap = _endpoints().document(endpoint_id).get()
    if not snap.exists:
        raise _not_found("Endpoint")
    batch.update(
        snap.reference,
        {"referenced_at": clock.now()},  # not part of the record: a write that changes it
        option=db().write_option(last_update_time=snap.update_time),
    )


def _check_prices(base: records.BaseModelRecord) -> None:
    if base.max_price_credits is not None and base.max_price_credits < base.price_credits:
        raise AppError(
            ErrorKind.INVALID,
            "maxPriceCredits must be at least priceCredits",
            {"code": "ERR_2001", "fields": [{"field": "maxPriceCredits", "message": "too low"}]},
        )


def _stored_json(changes: dict[str, Any]) -> dict[str, Any]:
    """Request fields as record fields: the schema and fixed input become JSON text."""
    out = dict(changes)
    if "input_schema" in out:
        schema = out.pop("input_schema")
        if schema is None:  # an update may leave it out, never take it away
            raise AppError(
                ErrorKind.INVALID,
                "inputSchema cannot be null",
                {"code": "ERR_2001", "fields": [{"field": "inputSchema", "message": "null"}]},
            )
        out["input_schema_json"] = stored_json(schema)
    if "fixed_input" in out:
        out["fixed_input_json"] = stored_json(out.pop("fixed_input") or {})
    return out


def create_base_model(
    *, request: BaseModelCreate, record_id: str | None = None
) -> records.BaseModelRecord:
    now = clock.now()
    base = _merged(
        records.BaseModelRecord,
        {
            **_stored_json(request.model_dump()),
            "id": record_id or str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
        },
    )
    _check_prices(base)
    batch = db().batch()
    _reference_endpoint(batch, base.endpoint_id)
    batch.create(_base_models().document(base.id), _data(base))
    batch.create(_claim(BASE_CLAIM, base.slug), {"id": base.id})
    _commit(batch, taken="slug")
    return base


def update_base_model(*, base_model_id: str, request: BaseModelUpdate) -> records.BaseModelRecord:
    ref = _base_models().document(base_model_id)
    snap = ref.get()
    if not snap.exists:
        raise _not_found("Base model")
    current = _base_model(snap)
    changes = _stored_json(request.model_dump(exclude_unset=True))
    updated = _merged(
        records.BaseModelRecord,
        {**current.model_dump(), **changes, "updated_at": clock.now()},
    )
    _check_prices(updated)
    batch = db().batch()
    if updated.endpoint_id != current.endpoint_id:
        _reference_endpoint(batch, updated.endpoint_id)
    batch.update(ref, _data(updated), option=db().write_option(last_update_time=snap.update_time))
    if updated.slug != current.slug:
        batch.create(_claim(BASE_CLAIM, updated.slug), {"id": base_model_id})
        _release_claim(batch, _claim(BASE_CLAIM, current.slug), base_model_id)
    _commit(batch, taken="slug")
    return updated


def delete_base_model(*, base_model_id: str) -> None:
    ref = _base_models().document(base_model_id)
    snap = ref.get()
    if not snap.exists:
        raise _not_found("Base model")
    if _is_used(records.TARS_MODELS, "base_model_id", base_model_id):
        raise _err(ErrorKind.CONFLICT, "ERR_3003", "A tars model still uses this base model")
    base = _base_model(snap)
    batch = db().batch()
    batch.delete(ref, option=db().write_option(last_update_time=snap.update_time))
    _release_claim(batch, _claim(BASE_CLAIM, base.slug), base_model_id)
    _commit(batch, taken="slug")
