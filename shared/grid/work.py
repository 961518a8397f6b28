"""Grid jobs, worker side: claim, start, result, fail, and the sweep's requeue.

What can never happen:
- A job is claimed by two workers. A claim is an update preconditioned on the update
  time of the snapshot that showed the job QUEUED; of two workers racing for it, one
  write fails and that worker moves on. Pollers shuffle the top candidates so 32 of them
  do not all race for the head of the queue (the emulator fails most transactions once
  ~8 contend on one document; preconditioned writes do not lock at all).
- A worker is paid twice, or paid for a job it does not hold: the result is accepted only
  from the job's current worker while RUNNING, and the terminal transition, the
  consumer's capture, the worker's earning and the platform's revenue are one batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from typing import Any

from shared.engine import clock, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobRecord, JobState
from shared.engine.store import CONFLICTS, JOBS, db
from shared.grid import pricing, usage
from shared.grid.ids import job_doc_id
from shared.grid.jobs import BACKEND, QUEUE_LIFETIME, SITE
from shared.grid.workers import Worker, offline_ids

log = logging.getLogger(__name__)

CANDIDATES = 16  # how far down the queue a poll looks
SPREAD = 8  # claims are spread over this many of the best candidates
MAX_ATTEMPTS = 3  # runs of one job before a worker failure fails it for the client
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
]


class _Candidate:
    """The projected fields of a queued job, enough to choose and claim it."""

    def __init__(self, job_id: str, data: dict[str, Any]):
        self.id = job_id
        self.model = data.get("model", "")
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


def _candidates(*, models: set[str], families: set[str], catch_all: bool) -> list[tuple[Any, Any]]:
    """The head of the queue *for this worker*: (snapshot, update time) of the best QUEUED
    grid jobs it may take, best first.

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
    found: dict[str, tuple[Any, Any]] = {}
    for query in queries:
        for snap in query.stream():
            found[snap.id] = (snap, snap.update_time)
    return sorted(
        found.values(),
        key=lambda pair: (
            -int((pair[0].to_dict().get("site_fields") or {}).get("priority", 0)),
            pair[0].to_dict()["created_at"],
        ),
    )


def claim_next(
    *, worker: Worker, models: set[str], families: set[str], catch_all: bool, wait_s: float
) -> JobRecord | None:
    """Claim the best job this worker may take, waiting up to `wait_s` for one.

    Tries the best SPREAD fitting jobs in random order, then the rest in queue order, so a
    worker that loses a race moves on without asking the queue again.
    """
    from google.cloud import firestore

    deadline = time.monotonic() + wait_s
    while True:
        fitting = []
        for snap, seen in _candidates(models=models, families=families, catch_all=catch_all):
            job = _Candidate(snap.id, snap.to_dict())
            if matches(job, models=models, families=families, catch_all=catch_all):
                fitting.append((job, seen))
        head, tail = fitting[:SPREAD], fitting[SPREAD:]
        random.shuffle(head)
        for job, seen in head + tail:
            now = clock.now()
            timeout = int(job.site_fields.get("timeout_seconds", 600))
            claim_id = uuid.uuid4().hex
            claim = {
                "state": str(JobState.CLAIMED),
                "site_fields.claim_id": claim_id,
                "site_fields.worker_id": worker.id,
                "site_fields.claimed_at": now,
                "site_fields.attempts": int(job.site_fields.get("attempts", 0)) + 1,
                "timeout_at": now + dt.timedelta(seconds=timeout),
            }
            try:
                jobs.document(job.id).update(
                    claim, option=firestore.Client.write_option(last_update_time=seen)
                )
            except CONFLICTS:
                # A commit retried by the client library can report a conflict with its
                # own first, successful attempt: the claim id tells ours from another's.
                mine = jobs.get(job.id)
                if mine.site_fields.get("claim_id") != claim_id:
                    continue
                return mine
            return jobs.get(job.id)
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(random.uniform(*POLL_INTERVAL_S), max(0.0, deadline - time.monotonic())))


def assignment(job: JobRecord) -> dict[str, Any]:
    from shared.grid.blobs import assignment_blobs

    return {
        "job_id": int(job.site_fields["grid_id"]),
        "model": job.model or None,
        "model_family": job.site_fields.get("model_family"),
        "model_match": job.site_fields.get("model_match", "family"),
        "prompt": job.input["prompt"],
        "blobs": assignment_blobs(job.site_fields.get("blob_ids") or []),
    }


def _held_job(*, worker: Worker, grid_id: int) -> JobRecord:
    job = jobs.find(job_doc_id(grid_id))
    if job is None or job.site != SITE or job.site_fields.get("worker_id") != worker.id:
        raise AppError(ErrorKind.NOT_FOUND, "not_found")
    return job


def start(*, worker: Worker, grid_id: int) -> None:
    job = _held_job(worker=worker, grid_id=grid_id)
    moved = jobs.transition(
        job.id,
        from_states={JobState.CLAIMED},
        to_state=JobState.RUNNING,
        fields={"started_at": clock.now()},
    )
    if moved is None or moved.site_fields.get("worker_id") != worker.id:
        raise AppError(ErrorKind.CONFLICT, "job is not claimed")


def submit_result(
    *,
    worker: Worker,
    grid_id: int,
    output: str,
    input_tokens: int,
    output_tokens: int,
    duration_ms: int,
    model_used: str | None,
) -> JobRecord:
    job = _held_job(worker=worker, grid_id=grid_id)
    if job.state is not JobState.RUNNING:
        raise AppError(ErrorKind.CONFLICT, "job is not running")
    now = clock.now()
    charge = pricing.consumer_charge(output_tokens)
    earning = pricing.worker_earning(output_tokens)

    def settle_shares(batch: Any, held: JobRecord, captured: int) -> None:
        # captured = worker earning + platform revenue, in the same batch as the capture.
        paid = min(earning, captured)
        ref = held.hold_ref or held.id
        if paid:
            ledger.credit_writes(
                batch,
                account_id=worker.account_id,
                kind=ledger.EntryKind.EARNING,
                ref=ref,
                micros=paid,
                job_id=held.id,
                memo=f"grid worker {worker.id}",
            )
        if captured - paid:
            ledger.credit_writes(
                batch,
                account_id=ledger.PLATFORM_ACCOUNT,
                kind=ledger.EntryKind.REVENUE,
                ref=ref,
                micros=captured - paid,
                job_id=held.id,
            )
        usage.record_tokens_writes(
            batch,
            account_id=held.account_id,
            tag=held.site_fields.get("tag"),
            tokens=input_tokens + output_tokens,
            now=now,
        )

    done = jobs.finish(
        job.id,
        state=JobState.COMPLETED,
        capture_micros=charge,
        only_from={JobState.RUNNING},
        fields={
            "site_fields.output": output,
            "site_fields.input_tokens": input_tokens,
            "site_fields.output_tokens": output_tokens,
            "site_fields.duration_ms": duration_ms,
            "site_fields.model_used": model_used,
            "site_fields.earned_micros": earning,
        },
        extra_writes=settle_shares,
    )
    if done.state is not JobState.COMPLETED or done.site_fields.get("worker_id") != worker.id:
        raise AppError(ErrorKind.CONFLICT, "job is not running")
    _notify(done)
    return done


def fail(*, worker: Worker, grid_id: int, error: str) -> str:
    """A worker could not run the job: back to the queue, or failed after MAX_ATTEMPTS."""
    job = _held_job(worker=worker, grid_id=grid_id)
    if job.terminal:
        return "failed" if job.state is JobState.FAILED else str(job.state).lower()
    return requeue_or_fail(job, reason=error[:2000], worker_id=worker.id)


def requeue_or_fail(job: JobRecord, *, reason: str, worker_id: int | None = None) -> str:
    active = {JobState.CLAIMED, JobState.RUNNING}
    if int(job.site_fields.get("attempts", 0)) >= MAX_ATTEMPTS:
        done = jobs.finish(job.id, state=JobState.FAILED, error=reason, only_from=active)
        if done.state is JobState.FAILED:
            _notify(done)
        return "failed"
    moved = jobs.transition(
        job.id,
        from_states=active,
        to_state=JobState.QUEUED,
        fields={
            "site_fields.worker_id": None,
            "site_fields.last_error": reason,
            "timeout_at": clock.now() + QUEUE_LIFETIME,
            "started_at": None,
        },
    )
    return "pending" if moved is not None else "failed"


def sweep_grid(*, now: dt.datetime) -> dict[str, int]:
    """Requeue jobs whose worker went silent or which ran past timeout_seconds."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("site", "==", SITE))
        .where(filter=FieldFilter("state", "in", [str(JobState.CLAIMED), str(JobState.RUNNING)]))
    )
    held = [JobRecord(id=s.id, **s.to_dict()) for s in query.stream()]
    silent = offline_ids(
        {
            int(j.site_fields["worker_id"])
            for j in held
            if j.site_fields.get("worker_id") is not None
        },
        now,
    )
    requeued = 0
    for job in held:
        if job.site_fields.get("worker_id") in silent:
            requeue_or_fail(job, reason="worker went offline")
            requeued += 1
        elif job.timeout_at < now:
            requeue_or_fail(job, reason="timed out")
            requeued += 1
    return {"requeued": requeued}


def _notify(job: JobRecord) -> None:
    """Enqueue the client's webhook; the sealed signing key then lives only in the task."""
    url = job.site_fields.get("webhook_url")
    sealed = job.site_fields.get("webhook_secret")
    if not url or not sealed:
        return
    from google.cloud import firestore

    from shared.engine.webhooks import enqueue_delivery
    from shared.grid.jobs import render

    try:
        enqueue_delivery(
            delivery_id=job.id + (f":{job.hold_ref}" if job.hold_ref else ""),
            url=url,
            payload=render(job),
            sealed_secret=sealed,
            context=job.id,
        )
    except AppError as exc:
        # The job's result stands; a webhook that can no longer be sent is only logged.
        log.warning("webhook for %s not enqueued: %s", job.id, exc.message)
    jobs.document(job.id).update({"site_fields.webhook_secret": firestore.DELETE_FIELD})


__all__ = [
    "BACKEND",
    "assignment",
    "claim_next",
    "fail",
    "matches",
    "start",
    "submit_result",
    "sweep_grid",
]
