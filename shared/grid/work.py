"""Grid jobs, worker side: claim, start, result, fail, and the sweep's requeue.

What can never happen:
- A job is claimed by two workers: a claim is a `jobs.transition` from QUEUED,
  preconditioned on the update time of the snapshot that showed it QUEUED (and not failed
  by this worker); of two racing workers one write fails and that worker moves on.
  Pollers shuffle the top candidates so 32 of them do not all race for the head.
- A job is offered again to a worker that failed one of its runs (`failed_workers`).
- A worker moves, completes or fails a job it does not hold: start, result and fail
  require, on the very snapshot their write is preconditioned on, that the job is held by
  this worker. A worker that lost its claim to the sweep gets 422 and is paid nothing.
- A worker is paid twice, or paid for tokens its output cannot hold: the completion, the
  worker's earning (`earning:<job>` on its earnings account) and the platform's matching
  expense (`expense:<job>`) are one batch; a result claiming more output tokens than its
  output has UTF-8 bytes is refused before anything is written.
- A failed run comes back by itself: a worker's fail is terminal (the client retries);
  only the sweep requeues the claims of silent or timed-out workers.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from shared.engine import clock, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobRecord, JobState
from shared.engine.store import JOBS, db
from shared.grid import fields, pricing, usage, views
from shared.grid.fields import path
from shared.grid.ids import job_doc_id
from shared.grid.jobs import BACKEND, QUEUE_LIFETIME, SITE
from shared.grid.notify import notify
from shared.grid.workers import Worker, offline_ids

log = logging.getLogger(__name__)

CANDIDATES = 16  # how far down the queue a poll looks
SPREAD = 8  # claims are spread over this many of the best candidates
MAX_ATTEMPTS = 3  # claims of one run before the sweep fails it (a lapsed claim requeues)
POLL_INTERVAL_S = (0.2, 0.5)
# What choosing and claiming needs; the prompt and the rest are read after a claim.
CLAIM_FIELDS = [
    "model",
    "created_at",
    "site_fields.priority",
    "site_fields.model_match",
    "site_fields.model_family",
    "site_fields.timeout_seconds",
    "site_fields.attempts",
    "site_fields.failed_workers",
]
HELD = frozenset({JobState.CLAIMED, JobState.RUNNING})


class _Candidate:
    """The projected fields of a queued job, enough to choose and claim it."""

    def __init__(self, job_id: str, data: dict[str, Any]):
        self.id = job_id
        self.model = data.get("model", "")
        self.created_at = data["created_at"]
        self.site_fields = data.get("site_fields", {})


def matches(
    job: JobRecord | _Candidate, *, models: set[str], families: set[str], catch_all: bool
) -> bool:
    """Whether a worker declaring these capabilities may take this job (the document's
    rule for GET /worker/jobs/next): exact needs the model in `models`; family needs the
    model or its family; any needs a catch-all worker."""
    match = job.site_fields.get("model_match", "family")
    if match == "any":
        return catch_all
    if match == "exact":
        return job.model in models
    return job.model in models or job.site_fields.get("model_family") in families


def _candidates(*, models: set[str], families: set[str], catch_all: bool) -> list[_Candidate]:
    """The head of the queue *for this worker*: the best QUEUED grid jobs it may take,
    best first.

    One query per way a job can match (its model among the worker's; its family among the
    worker's, for family jobs; any job, for catch-all workers), so jobs no online worker
    can serve never block the ones behind them.
    """
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    def head(*filters: Any) -> Any:
        query = (
            db()
            .collection(JOBS)
            .where(filter=FieldFilter("site", "==", SITE))
            .where(filter=FieldFilter("state", "==", str(JobState.QUEUED)))
        )
        for f in filters:
            query = query.where(filter=f)
        return (
            query.order_by("site_fields.priority", direction=firestore.Query.DESCENDING)
            .order_by("created_at")
            .select(CLAIM_FIELDS)
            .limit(CANDIDATES)
        )

    queries = []
    # Firestore's `in` takes at most 30 values; a worker serving more is unusual, and the
    # rest of its models still match through their families.
    if models:
        queries.append(head(FieldFilter("model", "in", sorted(models)[:30])))
    if families:
        queries.append(
            head(
                FieldFilter("site_fields.model_match", "==", "family"),
                FieldFilter("site_fields.model_family", "in", sorted(families)[:30]),
            )
        )
    if catch_all:
        queries.append(head(FieldFilter("site_fields.model_match", "==", "any")))
    found: dict[str, _Candidate] = {}
    for query in queries:
        for snap in query.stream():
            found[snap.id] = _Candidate(snap.id, snap.to_dict())
    return sorted(
        found.values(),
        key=lambda job: (-int(job.site_fields.get("priority", 0)), job.created_at),
    )


def claim_next(
    *, worker: Worker, models: set[str], families: set[str], catch_all: bool, wait_s: float
) -> JobRecord | None:
    """Claim the best job this worker may take, waiting up to `wait_s` for one.

    Tries the best SPREAD fitting jobs in random order, then the rest in queue order, so a
    worker that loses a race moves on without asking the queue again.
    """
    deadline = time.monotonic() + wait_s
    while True:
        fitting = [
            job
            for job in _candidates(models=models, families=families, catch_all=catch_all)
            # A worker that failed a run of a job is never offered it again.
            if worker.id not in (job.site_fields.get("failed_workers") or [])
            and matches(job, models=models, families=families, catch_all=catch_all)
        ]
        head, tail = fitting[:SPREAD], fitting[SPREAD:]
        random.shuffle(head)
        for job in head + tail:
            claimed = _claim(job, worker=worker)
            if claimed is not None:
                return claimed
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(random.uniform(*POLL_INTERVAL_S), max(0.0, deadline - time.monotonic())))


def _claim(candidate: _Candidate, *, worker: Worker) -> JobRecord | None:
    """Claim one QUEUED job for this worker, or None if someone else was faster."""
    job_id = candidate.id
    attempts = int(candidate.site_fields.get("attempts", 0))
    timeout = int(candidate.site_fields.get("timeout_seconds", 600))
    now = clock.now()
    claim_id = uuid.uuid4().hex

    def claimable(job: JobRecord) -> bool:
        sf = fields.of(job)
        return worker.id not in sf.failed_workers and sf.attempts == attempts

    moved = jobs.transition(
        job_id,
        from_states={JobState.QUEUED},
        to_state=JobState.CLAIMED,
        fields={
            path("claim_id"): claim_id,
            path("worker_id"): worker.id,
            path("claimed_at"): now,
            path("attempts"): attempts + 1,
            "timeout_at": now + dt.timedelta(seconds=timeout),
        },
        require=claimable,
    )
    if moved is None:
        # A commit retried by the client library can report a conflict with its own
        # first, successful attempt: the claim id tells ours from another's.
        current = jobs.find(job_id)
        if current is None or fields.of(current).claim_id != claim_id:
            return None
        return current
    return moved


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
    earning = pricing.worker_earning(result.output_tokens)
    result_id = uuid.uuid4().hex

    def pay(batch: Any, held: JobRecord, _captured: int) -> None:
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
    done = jobs.finish(
        job.id,
        state=JobState.FAILED,
        error=error[:2000],
        only_from=HELD,
        require=_held_by(worker, *HELD),
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


def requeue_or_fail(job: JobRecord, *, reason: str) -> str:
    """The sweep's verdict on a lapsed claim: back to the queue, or failed (and the client
    told) once the run has had MAX_ATTEMPTS claims. Only while that claim still holds."""
    claim_id = fields.of(job).claim_id

    def same_claim(current: JobRecord) -> bool:
        return fields.of(current).claim_id == claim_id

    if fields.of(job).attempts >= MAX_ATTEMPTS:
        done = jobs.finish(
            job.id, state=JobState.FAILED, error=reason, only_from=HELD, require=same_claim
        )
        if done.state is JobState.FAILED and done.error == reason:
            notify(done)
        return "failed"
    moved = jobs.transition(
        job.id,
        from_states=HELD,
        to_state=JobState.QUEUED,
        require=same_claim,
        fields={
            path("worker_id"): None,
            path("claim_id"): None,
            path("last_error"): reason,
            "timeout_at": clock.now() + QUEUE_LIFETIME,
            "started_at": None,
        },
    )
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
            requeued += requeue_or_fail(job, reason="timed out") != "unchanged"
    return {"requeued": requeued}


__all__ = [
    "BACKEND",
    "claim_next",
    "fail",
    "matches",
    "start",
    "submit_result",
    "sweep_grid",
]
