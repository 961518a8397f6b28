"""Job states, the job record models and the plain reads of the `jobs` collection.

A job's state is one of `JobState`; TERMINAL states are final (nothing moves a job out of
them but an explicit reopen of a FAILED job). This module only reads: every write of a job
goes through shared/engine/jobs.py, which keeps the state machine and settlement rules and
re-exports these names.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import JOBS, db


class JobState(StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    CLAIMED = "CLAIMED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})
ACTIVE = frozenset(JobState) - TERMINAL


class JobCreate(BaseModel):
    """A validated, priced request to run something."""

    account_id: str
    site: str
    model: str
    backend: str
    # Where on the backend the job runs when the site chose it (a RunPod endpoint id, a
    # Modal model name); None: the backend's configured address for `model`.
    endpoint: str | None = None
    input: dict[str, Any]
    price_micros: int = Field(ge=0)
    site_fields: dict[str, Any] = {}
    idempotency_key: str | None = None
    # A digest of the client's request: the same idempotency key with another request is
    # refused (AppError CONFLICT, details code IDEMPOTENCY_KEY_REUSED).
    request_fingerprint: str | None = None
    timeout_s: int | None = None


class JobRecord(BaseModel):
    id: str
    account_id: str
    site: str
    model: str
    backend: str
    endpoint: str | None = None
    input: dict[str, Any]
    state: JobState
    price_micros: int
    hold_shard: int | None = None
    hold_ref: str | None = None  # the current hold's ledger ref (None: the job id)
    captured_micros: int | None = None
    site_fields: dict[str, Any] = {}
    idempotency_key: str | None = None
    backend_job_id: str | None = None
    outputs: list[str] = []
    error: str | None = None
    created_at: dt.datetime
    queued_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    timeout_at: dt.datetime

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


def ref(job_id: str) -> Any:
    return db().collection(JOBS).document(job_id)


def record(snap: Any) -> JobRecord:
    return JobRecord(id=snap.id, **snap.to_dict())


def get(job_id: str) -> JobRecord:
    snap = ref(job_id).get()
    if not snap.exists:
        raise AppError(ErrorKind.NOT_FOUND, "Job not found")
    return record(snap)


def find(job_id: str) -> JobRecord | None:
    snap = ref(job_id).get()
    return record(snap) if snap.exists else None


def overdue(*, now: dt.datetime, limit: int = 200) -> list[JobRecord]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("state", "in", [str(s) for s in ACTIVE]))
        .where(filter=FieldFilter("timeout_at", "<", now))
        .limit(limit)
    )
    return [record(snap) for snap in query.stream()]
