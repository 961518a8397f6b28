"""Jobs: one collection for every site, one state machine, settled exactly once.

    PENDING -> QUEUED -> (CLAIMED ->) RUNNING -> COMPLETED | FAILED | CANCELLED

What can never happen:
- A job exists without its hold: submit writes the job, the hold entry and the shard
  change in one atomic batch, after the money was reserved.
- A job moves from a state it is no longer in: every transition is a write with a
  precondition on the document's update time, taken from the read that saw the old
  state. Two deliveries of the same task or callback race on that precondition and
  exactly one wins; the loser re-reads and finds nothing to do. No transaction locks.
- A job is settled twice or both captured and released: the terminal transition and its
  ledger entry are one batch under that same precondition.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from shared.engine import clock, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.queue import Target, enqueue
from shared.engine.settings import get_settings
from shared.engine.store import CONFLICTS, JOBS, db

JOB_NAMESPACE = uuid.UUID("0b7f5a8e-8d7c-4f61-b1a3-4c2d9e6f7a10")
MAX_TRANSITION_TRIES = 20


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


def _ref(job_id: str) -> Any:
    return db().collection(JOBS).document(job_id)


document = _ref  # for services that batch their own job writes (grid retry)


def _record(snap: Any) -> JobRecord:
    return JobRecord(id=snap.id, **snap.to_dict())


def get(job_id: str) -> JobRecord:
    snap = _ref(job_id).get()
    if not snap.exists:
        raise AppError(ErrorKind.NOT_FOUND, "Job not found")
    return _record(snap)


def find(job_id: str) -> JobRecord | None:
    snap = _ref(job_id).get()
    return _record(snap) if snap.exists else None


def submit(
    create: JobCreate,
    *,
    initial_state: JobState = JobState.PENDING,
    dispatch: bool = True,
    job_id: str | None = None,
    fields: dict[str, Any] | None = None,
) -> JobRecord:
    """Reserve the price, then create job + hold atomically, then enqueue dispatch.

    With an idempotency key the job id is derived from (account, key): a repeat returns
    the first job and holds nothing more. Pull-based backends (the grid) create the job
    already QUEUED and skip the dispatch task; `fields` are extra facts stored with it.
    """
    if create.idempotency_key:
        job_id = str(uuid.uuid5(JOB_NAMESPACE, f"{create.account_id}:{create.idempotency_key}"))
        existing = find(job_id)
        if existing is not None:
            return existing
    else:
        job_id = job_id or str(uuid.uuid4())
    now = clock.now()
    timeout_s = create.timeout_s or get_settings().job_timeout_s
    record = JobRecord(
        id=job_id,
        state=initial_state,
        created_at=now,
        timeout_at=now + dt.timedelta(seconds=timeout_s),
        **create.model_dump(exclude={"timeout_s"}),
    )
    micros = create.price_micros
    shard = 0
    if micros:
        try:
            shard = ledger.reserve(
                account_id=create.account_id, reservation_id=job_id, micros=micros
            )
        except CONFLICTS:
            # The same idempotency key is being submitted concurrently: answer with it.
            return _await_existing(job_id)
        record.hold_shard = shard
    batch = db().batch()
    batch.create(
        _ref(job_id), {**record.model_dump(mode="python", exclude={"id"}), **(fields or {})}
    )
    if micros:
        ledger.hold_writes(
            batch, account_id=create.account_id, job_id=job_id, shard=shard, micros=micros
        )
    try:
        batch.commit()
    except CONFLICTS:
        if micros:
            ledger.undo_reservation(
                account_id=create.account_id, reservation_id=job_id, shard=shard, micros=micros
            )
        return _await_existing(job_id)
    if not dispatch:
        return record
    try:
        enqueue(Target.DISPATCH, {"job_id": job_id}, name=f"dispatch-{job_id}")
    except AppError:
        finish(job_id, state=JobState.FAILED, error="could not enqueue the job")
        raise
    return record


def _await_existing(job_id: str) -> JobRecord:
    existing = find(job_id)
    if existing is None:
        raise AppError(ErrorKind.CONFLICT, "a request with this idempotency key is in flight")
    return existing


def transition(
    job_id: str,
    *,
    from_states: frozenset[JobState] | set[JobState],
    to_state: JobState | None = None,
    fields: dict[str, Any] | None = None,
    require: Callable[[JobRecord], bool] | None = None,
) -> JobRecord | None:
    """Move a non-terminal job (or, with no `to_state`, update it in place); None when it is
    not (any longer) in `from_states`, or `require` is false of the snapshot the write is
    preconditioned on (e.g. "still held by this worker's claim")."""
    if to_state in TERMINAL:
        raise ValueError("terminal states go through finish()")
    from google.cloud import firestore

    for _ in range(MAX_TRANSITION_TRIES):
        snap = _ref(job_id).get()
        if not snap.exists:
            return None
        job = _record(snap)
        if job.state not in from_states or (require is not None and not require(job)):
            return None
        update = {**({"state": str(to_state)} if to_state else {}), **(fields or {})}
        try:
            _ref(job_id).update(
                update, option=firestore.Client.write_option(last_update_time=snap.update_time)
            )
        except CONFLICTS:
            continue
        return _record(_ref(job_id).get())
    raise AppError(ErrorKind.UNAVAILABLE, "job is too busy, retry")


def reopen(
    job_id: str, *, to_state: JobState, fields: dict[str, Any] | None = None
) -> JobRecord | None:
    """Put a FAILED job back in line for a new run (a client's retry, where the site allows
    it), in place and preconditioned like `transition`; None when it is not FAILED. No
    money moves: a site whose runs are paid places the new run's hold itself."""
    if to_state in TERMINAL:
        raise ValueError("reopen() moves a failed job to a non-terminal state")
    return transition(job_id, from_states={JobState.FAILED}, to_state=to_state, fields=fields)


def update_fields(job_id: str, fields: dict[str, Any]) -> None:
    """Record facts about a job (backend id, ...) without touching its state."""
    _ref(job_id).update(fields)


def finish(
    job_id: str,
    *,
    state: JobState,
    capture_micros: int | None = None,
    outputs: list[str] | None = None,
    error: str | None = None,
    fields: dict[str, Any] | None = None,
    extra_writes: Callable[[Any, JobRecord, int], None] | None = None,
    only_from: frozenset[JobState] | None = None,
    require: Callable[[JobRecord], bool] | None = None,
) -> JobRecord:
    """Move a job to a terminal state and settle its hold, at most once.

    COMPLETED captures `capture_micros` (default: the whole hold) and returns the rest;
    FAILED and CANCELLED release the hold. A job already terminal is returned unchanged.
    `extra_writes(batch, job, captured)` adds writes that must land with the settlement
    (a worker's earning, the platform's revenue), under the same precondition.
    With `only_from`, a job in any other state is returned unchanged; with `require`, a job
    of which it is false (on the snapshot the write is preconditioned on) likewise.
    """
    if state not in TERMINAL:
        raise ValueError("finish() takes a terminal state")
    from google.cloud import firestore

    for _ in range(MAX_TRANSITION_TRIES):
        snap = _ref(job_id).get()
        if not snap.exists:
            raise AppError(ErrorKind.NOT_FOUND, "Job not found")
        job = _record(snap)
        if job.terminal or (only_from is not None and job.state not in only_from):
            return job
        if require is not None and not require(job):
            return job
        held = job.price_micros if job.hold_shard is not None else 0
        captured = 0
        if state is JobState.COMPLETED:
            captured = held if capture_micros is None else min(capture_micros, held)
        now = clock.now()
        update: dict[str, Any] = {
            "state": str(state),
            "completed_at": now,
            "captured_micros": captured,
            "error": error,
        }
        if outputs is not None:
            update["outputs"] = outputs
        update.update(fields or {})
        batch = db().batch()
        batch.update(
            _ref(job_id),
            update,
            option=firestore.Client.write_option(last_update_time=snap.update_time),
        )
        if held and job.hold_shard is not None:
            ledger.settle_writes(
                batch,
                account_id=job.account_id,
                job_id=job_id,
                shard=job.hold_shard,
                ref=job.hold_ref,
                held_micros=held,
                capture_micros=captured,
            )
        if extra_writes is not None:
            extra_writes(batch, job, captured)
        try:
            batch.commit()
        except CONFLICTS:
            continue
        return _record(_ref(job_id).get())
    raise AppError(ErrorKind.UNAVAILABLE, "job is too busy, retry")


def overdue(*, now: dt.datetime, limit: int = 200) -> list[JobRecord]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("state", "in", [str(s) for s in ACTIVE]))
        .where(filter=FieldFilter("timeout_at", "<", now))
        .limit(limit)
    )
    return [_record(snap) for snap in query.stream()]
