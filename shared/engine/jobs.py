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
- One idempotency key makes two jobs or two holds, or answers with another account's job:
  the key's record (shared/engine/idempotency.py) is created in the submit's batch, and a
  job id already taken by another job is never returned, a fresh id is tried instead.
- A write is lost to a lost response: every job write commits through `store.commit` and
  stores a random token; a writer whose retried commit conflicts re-reads the document and,
  finding its own token, carries on (enqueue, dispatch) as if the commit had answered.

The states and record models, and the plain reads, live in shared/engine/job_records.py;
this module re-exports them, so callers keep using `jobs.JobRecord`, `jobs.get`, ...
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from shared.engine import background, clock, idempotency, job_records, ledger, shares, store
from shared.engine.errors import AppError, ErrorKind
from shared.engine.job_records import ACTIVE as ACTIVE
from shared.engine.job_records import TERMINAL as TERMINAL
from shared.engine.job_records import JobCreate as JobCreate
from shared.engine.job_records import JobRecord as JobRecord
from shared.engine.job_records import JobState as JobState
from shared.engine.job_records import find as find
from shared.engine.job_records import get as get
from shared.engine.job_records import overdue as overdue
from shared.engine.queue import Target, enqueue
from shared.engine.settings import get_settings
from shared.engine.store import CONFLICTS, db

MAX_TRANSITION_TRIES = 20
MAX_ID_TRIES = 5
REPLAY_WAIT_S = 5.0
# Random tokens stored with a write so that a writer whose commit landed but whose response
# was lost (the client retried it and the retry conflicted) recognises the write as its own.
SUBMIT_TOKEN = "submit_token"
WRITE_TOKEN = "write_token"


_ref = job_records.ref
_record = job_records.record
document = job_records.ref  # for services that batch their own job writes (grid retry)


def find_by_idempotency_key(*, account_id: str, key: str) -> JobRecord | None:
    """The job an `Idempotency-Key` of this account created, if any (for sites that must
    know before side effects)."""
    job_id = idempotency.find_job_id(account_id=account_id, key=key)
    return find(job_id) if job_id else None


def submit(
    create: JobCreate,
    *,
    initial_state: JobState = JobState.PENDING,
    dispatch: bool = True,
    job_id: str | None = None,
    id_factory: Callable[[], str] | None = None,
    fields: dict[str, Any] | None = None,
    extra_writes: Callable[[Any, JobRecord], None] | None = None,
) -> JobRecord:
    """Reserve the price, then create job + hold (+ idempotency record) atomically, then
    enqueue dispatch.

    With an idempotency key, a repeat of the same request returns the first job and holds
    nothing more (also when the repeats race); the same key with another request fingerprint
    is refused. The job id comes from `job_id`, else `id_factory()`, else a UUID; an id that
    turns out to be another job's is never answered with: submit takes a fresh id from the
    factory (with a fixed `job_id` and no factory it refuses with CONFLICT). Pull-based
    backends (the grid) create the job already QUEUED and skip the dispatch task; `fields`
    are extra facts stored with it, `extra_writes(batch, job)` writes that land with it
    (the grid's claimable-queue entry).
    """
    key = create.idempotency_key
    if key is not None:
        idempotency.validate_key(key)
        replayed = _replay(create)
        if replayed is not None:
            return replayed
    new_id = id_factory or (lambda: str(uuid.uuid4()))
    candidate = job_id or new_id()
    # A fresh random id is nobody's, so its dispatch task can be created while the job's
    # batch commits (one round trip of latency, not two): a task that arrives before the
    # job has landed waits for it while the job's reservation is open (dispatch.dispatch),
    # and one whose job never lands finds nothing to do. A caller's own id or factory, or
    # an idempotency key (whose submit may answer with an earlier job), or a free job (no
    # reservation), enqueues after the batch as before.
    overlap = (
        dispatch
        and create.price_micros > 0  # the reservation tells dispatch the batch is in flight
        and key is None
        and job_id is None
        and id_factory is None
    )
    queued: list[Future[str]] = []

    def enqueue_now(created_id: str) -> None:
        queued.append(background.start(lambda: _enqueue_dispatch(created_id)))

    for _ in range(MAX_ID_TRIES):
        outcome = _create(
            create,
            job_id=candidate,
            initial_state=initial_state,
            fields=fields,
            before_commit=enqueue_now if overlap else None,
            extra_writes=extra_writes,
        )
        if outcome is not None:
            break
        if job_id is not None and id_factory is None:
            raise AppError(ErrorKind.CONFLICT, "job id is already taken")
        candidate = new_id()
    else:
        for pending in queued:
            pending.exception()
        raise AppError(ErrorKind.UNAVAILABLE, "could not allocate a job id, retry")
    record, created = outcome
    if not created or not dispatch:
        for pending in queued:
            pending.exception()
        return record
    try:
        mine = [q for q in queued if q.result() == record.id]
        if not mine:
            _enqueue_dispatch(record.id)
    except AppError:
        finish(record.id, state=JobState.FAILED, error="could not enqueue the job")
        raise
    return record


def _enqueue_dispatch(job_id: str) -> str:
    enqueue(Target.DISPATCH, {"job_id": job_id}, name=f"dispatch-{job_id}")
    return job_id


def _create(
    create: JobCreate,
    *,
    job_id: str,
    initial_state: JobState,
    fields: dict[str, Any] | None,
    before_commit: Callable[[str], None] | None = None,
    extra_writes: Callable[[Any, JobRecord], None] | None = None,
) -> tuple[JobRecord, bool] | None:
    """One attempt at the atomic create. Returns (job, created by this call), or None when
    `job_id` belongs to someone else's job (take another id). `extra_writes(batch, job)`
    adds writes to the create batch; `before_commit(job_id)` is called once the money is
    reserved, just before the batch commits."""
    token = uuid.uuid4().hex
    now = clock.now()
    record = JobRecord(
        id=job_id,
        state=initial_state,
        created_at=now,
        timeout_at=now + dt.timedelta(seconds=create.timeout_s or get_settings().job_timeout_s),
        **create.model_dump(exclude={"timeout_s", "request_fingerprint"}),
    )
    key, account_id, micros = create.idempotency_key, create.account_id, create.price_micros
    reservation = idempotency.reservation_id(account_id=account_id, key=key) if key else job_id
    if micros:
        try:
            record.hold_shard = ledger.reserve(
                account_id=account_id, reservation_id=reservation, micros=micros
            )
        except AppError as exc:
            # The same key's first submit may hold the money: landed (spent) since our replay
            # check, or reserved and still writing its batch. Answer with its job (waiting
            # for the batch while the key's reservation is open), not "insufficient".
            if not key or exc.kind is not ErrorKind.INSUFFICIENT_FUNDS:
                raise
            replayed = _replay(create, wait=ledger.is_reserved(reservation))
            if replayed is None:
                raise
            return replayed, False
        except CONFLICTS:
            # Another submit holds this reservation: the same key racing us, or (no key) a
            # job id someone else is creating right now.
            if not key:
                return None
            replayed = _replay(create, wait=True)
            assert replayed is not None  # waiting, it answers a job or raises CONFLICT
            return replayed, False
    batch = db().batch()
    batch.create(
        _ref(job_id),
        {
            **record.model_dump(mode="python", exclude={"id"}),
            **(fields or {}),
            SUBMIT_TOKEN: token,
        },
    )
    if key:
        idempotency.create_writes(
            batch,
            account_id=account_id,
            key=key,
            job_id=job_id,
            fingerprint=create.request_fingerprint,
        )
    if micros:
        ledger.hold_writes(
            batch,
            account_id=account_id,
            job_id=job_id,
            shard=record.hold_shard or 0,
            micros=micros,
            reservation_id=reservation,
        )
    if extra_writes is not None:
        extra_writes(batch, record)
    if before_commit is not None:
        before_commit(job_id)
    try:
        store.commit(batch, label="jobs.submit")
    except CONFLICTS:
        # Either our own write landed and only its response was lost (the reservation is
        # spent, so this undo is a no-op), or the batch failed as a whole.
        if micros:
            ledger.undo_reservation(
                account_id=account_id,
                reservation_id=reservation,
                shard=record.hold_shard or 0,
                micros=micros,
            )
        snap = _ref(job_id).get()
        if snap.exists and (snap.to_dict() or {}).get(SUBMIT_TOKEN) == token:
            return _record(snap), True
        replayed = _replay(create) if key else None
        return (replayed, False) if replayed is not None else None
    return record, True


def _replay(create: JobCreate, *, wait: bool = False) -> JobRecord | None:
    """The first job of this idempotency key (waiting for a racing submit to land it when
    `wait`), or None; CONFLICT if the key was used with another request."""
    assert create.idempotency_key is not None
    job_id = idempotency.lookup(
        account_id=create.account_id,
        key=create.idempotency_key,
        fingerprint=create.request_fingerprint,
        wait_s=REPLAY_WAIT_S if wait else 0.0,
    )
    return get(job_id) if job_id else None


def transition(
    job_id: str,
    *,
    from_states: frozenset[JobState] | set[JobState],
    to_state: JobState | None = None,
    fields: dict[str, Any] | None = None,
    require: Callable[[JobRecord], bool] | None = None,
    label: str = "jobs.transition",
    extra_writes: Callable[[Any, JobRecord], None] | None = None,
) -> JobRecord | None:
    """Move a non-terminal job (or, with no `to_state`, update it in place); None when it is
    not (any longer) in `from_states`, or `require` is false of the snapshot the write is
    preconditioned on (e.g. "still held by this worker's claim"). A write that landed but
    whose response was lost counts as done (recognised by the token it stored).
    `extra_writes(batch, job)` adds writes that land with it, under its precondition."""
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
        token = uuid.uuid4().hex
        update = {
            **({"state": str(to_state)} if to_state else {}),
            **(fields or {}),
            WRITE_TOKEN: token,
        }
        batch = db().batch()
        batch.update(
            _ref(job_id),
            update,
            option=firestore.Client.write_option(last_update_time=snap.update_time),
        )
        if extra_writes is not None:
            extra_writes(batch, job)
        try:
            store.commit(batch, label=label)
        except CONFLICTS:
            # Our own write may have landed with its response lost: recognise it by token.
            after = _ref(job_id).get()
            if after.exists and (after.to_dict() or {}).get(WRITE_TOKEN) == token:
                return _record(after)
            continue
        return _record(_ref(job_id).get())
    raise AppError(ErrorKind.UNAVAILABLE, "job is too busy, retry")


def reopen(
    job_id: str,
    *,
    to_state: JobState,
    fields: dict[str, Any] | None = None,
    extra_writes: Callable[[Any, JobRecord], None] | None = None,
) -> JobRecord | None:
    """Put a FAILED job back in line for a new run (a client's retry, where the site allows
    it), in place and preconditioned like `transition`; None when it is not FAILED. No
    money moves: a site whose runs are paid places the new run's hold itself."""
    if to_state in TERMINAL:
        raise ValueError("reopen() moves a failed job to a non-terminal state")
    return transition(
        job_id,
        from_states={JobState.FAILED},
        to_state=to_state,
        fields=fields,
        extra_writes=extra_writes,
    )


def update_fields(job_id: str, fields: dict[str, Any]) -> None:
    """Record facts about a job (boost status, ...) without touching its state."""
    batch = db().batch()
    batch.update(_ref(job_id), fields)
    store.commit(batch, label="jobs.update")


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
    (a worker's earning, the platform's revenue), under the same precondition; without it,
    a capture gets the share writer its site registered (shared/engine/shares.py).
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
        writer = extra_writes or (shares.writer_for(job.site) if captured else None)
        if writer is not None:
            writer(batch, job, captured)
        try:
            store.commit(batch, label="jobs.finish")
        except CONFLICTS:
            continue  # re-read: a landed write with a lost response shows as terminal
        return _record(_ref(job_id).get())
    raise AppError(ErrorKind.UNAVAILABLE, "job is too busy, retry")
