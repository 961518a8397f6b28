"""Grid jobs, worker side: start, result, fail, and the sweep's requeue (claims are in
shared/grid/claims.py).

What can never happen:
- A job is offered again to a worker that failed one of its runs or let a claim of it
  lapse (`failed_workers`), so one worker can fail a job at most once; every failed or
  lapsed run counts against the worker's failure rate (shared/grid/workers.py).
- A worker moves, completes or fails a job it does not hold: start, result and fail
  require, on the very snapshot their write is preconditioned on, that the job is held by
  this worker. A worker that lost its claim to the sweep gets 422 and is paid nothing.
- A worker is paid twice, or paid for tokens its output cannot hold: the completion, the
  worker's earning (`earning:<job>` on its earnings account) and the platform's matching
  expense (`expense:<job>`) are one batch; a result claiming more output tokens than its
  output has UTF-8 bytes is refused before anything is written; the tokens paid for are
  capped per job (`pricing.paid_output_tokens`), and a worker running its own account's
  job earns nothing (a free account cannot mint earnings by feeding itself).
- A failed run comes back by itself: a worker's fail is terminal (the client retries);
  only the sweep requeues the claims of silent or timed-out workers.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any

from shared.engine import clock, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobRecord, JobState
from shared.engine.store import JOBS, db
from shared.grid import fields, pricing, queue, usage, views
from shared.grid.claims import HELD, _candidates, claim_next, matches
from shared.grid.fields import path
from shared.grid.ids import job_doc_id
from shared.grid.jobs import BACKEND, QUEUE_LIFETIME, SITE
from shared.grid.notify import notify
from shared.grid.workers import Worker, count_lapsed_run, count_run_writes, offline_ids

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # claims of one run before the sweep fails it (a lapsed claim requeues)


def _worker_job(grid_id: int) -> JobRecord:
    job = jobs.find(job_doc_id(grid_id))
    if job is None or job.site != SITE:
        raise AppError(ErrorKind.NOT_FOUND, "not_found")
    return job


def _held_by(worker: Worker, *states: JobState) -> Callable[[JobRecord], bool]:
    """Whether a job (the snapshot a write is preconditioned on) is held by this worker."""

    def held(job: JobRecord) -> bool:
        return job.state in states and fields.of(job).worker_id == worker.id

    return held


def start(*, worker: Worker, grid_id: int) -> None:
    job = _worker_job(grid_id)
    moved = jobs.transition(
        job.id,
        from_states={JobState.CLAIMED},
        to_state=JobState.RUNNING,
        fields={"started_at": clock.now()},
        require=_held_by(worker, JobState.CLAIMED),
    )
    if moved is None:
        raise AppError(ErrorKind.CONFLICT, "job is not claimed by this worker")


def submit_result(*, worker: Worker, grid_id: int, result: views.ResultRequest) -> JobRecord:
    job = _worker_job(grid_id)
    if not pricing.plausible_token_count(output=result.output, output_tokens=result.output_tokens):
        raise AppError(ErrorKind.INVALID, "output_tokens is more than the output's length in bytes")
    now = clock.now()
    paid_tokens = pricing.paid_output_tokens(result.output_tokens)
    earning = 0 if job.account_id == worker.account_id else pricing.worker_earning(paid_tokens)
    result_id = uuid.uuid4().hex

    def pay(batch: Any, held: JobRecord, _captured: int) -> None:
        count_run_writes(batch, worker_id=worker.id, failed=False)
        queue.release_writes(batch, worker_id=worker.id, job_id=held.id)
        # The platform pays the worker: earning and expense share the ref, in one batch.
        if earning:
            ledger.credit_writes(
                batch,
                account_id=ledger.earnings_account(worker.account_id),
                kind=ledger.EntryKind.EARNING,
                ref=held.id,
                micros=earning,
                job_id=held.id,
                memo=f"grid worker {worker.id}",
            )
            ledger.house_debit_writes(
                batch,
                kind=ledger.EntryKind.EXPENSE,
                ref=held.id,
                micros=earning,
                job_id=held.id,
                memo=f"grid worker {worker.id} earning",
            )
        usage.record_tokens_writes(
            batch,
            account_id=held.account_id,
            tag=fields.of(held).tag,
            tokens=result.input_tokens + result.output_tokens,
            now=now,
        )

    done = jobs.finish(
        job.id,
        state=JobState.COMPLETED,
        only_from=frozenset({JobState.RUNNING}),
        require=_held_by(worker, JobState.RUNNING),
        fields={
            path("result_id"): result_id,
            path("output"): result.output,
            path("input_tokens"): result.input_tokens,
            path("output_tokens"): result.output_tokens,
            path("duration_ms"): result.duration_ms,
            path("model_used"): result.model_used,
            path("earned_micros"): earning,
        },
        extra_writes=pay,
    )
    if fields.of(done).result_id != result_id:
        raise AppError(ErrorKind.CONFLICT, "job is not running on this worker")
    notify(done)
    return done


def fail(*, worker: Worker, grid_id: int, error: str) -> str:
    """The worker could not run the job: it is failed (terminal, the client's webhook is
    sent); the client may retry it, and this worker is not offered it again."""
    job = _worker_job(grid_id)
    from google.cloud import firestore

    failure_id = uuid.uuid4().hex

    def count_failure(batch: Any, held: JobRecord, _captured: int) -> None:
        count_run_writes(batch, worker_id=worker.id, failed=True)
        queue.release_writes(batch, worker_id=worker.id, job_id=held.id)

    done = jobs.finish(
        job.id,
        state=JobState.FAILED,
        error=error[:2000],
        only_from=HELD,
        require=_held_by(worker, *HELD),
        extra_writes=count_failure,
        fields={
            path("failure_id"): failure_id,
            path("failed_workers"): firestore.ArrayUnion([worker.id]),
            path("last_error"): error[:2000],
        },
    )
    if fields.of(done).failure_id == failure_id:
        notify(done)
        return "failed"
    if done.state is JobState.FAILED and worker.id in fields.of(done).failed_workers:
        return "failed"  # a repeat of this worker's own report
    raise AppError(ErrorKind.CONFLICT, "job is not held by this worker")


def requeue_or_fail(job: JobRecord, *, reason: str, worker_at_fault: bool = True) -> str:
    """The sweep's verdict on a lapsed claim: back to the queue, or failed (and the client
    told) once the run has had MAX_ATTEMPTS claims. Only while that claim still holds. The
    lapsed worker joins `failed_workers`; the run counts as one of its failures only when
    the worker is at fault (it went silent), not when the job's own timeout ran out: a
    client's tiny `timeout_seconds` must not frame honest workers."""
    from google.cloud import firestore

    claim_id = fields.of(job).claim_id
    worker_id = fields.of(job).worker_id

    def same_claim(current: JobRecord) -> bool:
        return fields.of(current).claim_id == claim_id

    blame = {path("failed_workers"): firestore.ArrayUnion([worker_id])} if worker_id else {}

    def release(batch: Any, held: JobRecord, _captured: int = 0) -> None:
        queue.release_writes(batch, worker_id=worker_id, job_id=held.id)

    def requeue(batch: Any, held: JobRecord) -> None:
        release(batch, held)
        failed = [*fields.of(held).failed_workers, *([worker_id] if worker_id else [])]
        queue.enqueue_writes(batch, held, failed_workers=failed)

    if fields.of(job).attempts >= MAX_ATTEMPTS:
        done = jobs.finish(
            job.id,
            state=JobState.FAILED,
            error=reason,
            only_from=HELD,
            require=same_claim,
            fields=blame,
            extra_writes=release,
        )
        if done.state is JobState.FAILED and done.error == reason:
            notify(done)
            if worker_id is not None and worker_at_fault:
                count_lapsed_run(worker_id)
        return "failed"
    moved = jobs.transition(
        job.id,
        from_states=HELD,
        to_state=JobState.QUEUED,
        require=same_claim,
        fields={
            **blame,
            path("worker_id"): None,
            path("claim_id"): None,
            path("last_error"): reason,
            "timeout_at": clock.now() + QUEUE_LIFETIME,
            "started_at": None,
        },
        extra_writes=requeue,
    )
    if moved is not None and worker_id is not None and worker_at_fault:
        count_lapsed_run(worker_id)
    return "pending" if moved is not None else "unchanged"


def sweep_grid(*, now: dt.datetime) -> dict[str, int]:
    """Requeue jobs whose worker went silent or which ran past timeout_seconds."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("site", "==", SITE))
        .where(filter=FieldFilter("state", "in", [str(s) for s in HELD]))
    )
    held = [JobRecord(id=s.id, **s.to_dict()) for s in query.stream()]
    holders = {fields.of(j).worker_id for j in held}
    silent = offline_ids({w for w in holders if w is not None}, now)
    requeued = 0
    for job in held:
        if fields.of(job).worker_id in silent:
            requeued += requeue_or_fail(job, reason="worker went offline") != "unchanged"
        elif job.timeout_at < now:
            verdict = requeue_or_fail(job, reason="timed out", worker_at_fault=False)
            requeued += verdict != "unchanged"
    return {"requeued": requeued}


__all__ = [
    "BACKEND",
    "_candidates",
    "claim_next",
    "fail",
    "matches",
    "start",
    "submit_result",
    "sweep_grid",
]
