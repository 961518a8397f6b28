"""Grid jobs, client side: submit, read, list, cancel, reprioritise, retry, and the
usage they count.

Rules kept here:
- A job is always accepted (201) while the key is active: the free tier costs nothing, so
  a job places no hold. Over the daily quota it is created PENDING with `eligible_at` at
  the next reset and workers never see it until `release_quota_held` queues it then.
- A job id (milliseconds + 10 random bits) that collides with an existing job is never
  answered with that job: the submit sees another job's nonce and tries a new id.
- With an `Idempotency-Key`, a replay answers the first job and is not counted against
  the quota twice (the replay's count is taken back).
- Only pending jobs (PENDING or QUEUED) can be cancelled or reprioritised; only failed
  jobs retried, in place, as a new run that the workers which failed it are not offered.
- A job list never skips more than `grid_max_list_offset` documents (Firestore bills each
  skipped one): a deeper offset is an empty page, read for nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from shared.engine import clock, jobs
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobCreate, JobRecord, JobState
from shared.engine.settings import get_settings
from shared.engine.store import CONFLICTS, JOBS, db
from shared.grid import fields, queue, usage
from shared.grid.fields import path
from shared.grid.ids import job_doc_id, new_id
from shared.grid.views import STATUS_WORDS, JobCreateRequest, PriorityChange
from shared.grid.workers import family

SITE = "grid"
BACKEND = "grid"
QUEUE_LIFETIME = dt.timedelta(days=7)  # an unclaimed job fails after this
PAGE_SIZE = 50
ID_TRIES = 5
PENDING_STATES = frozenset({JobState.PENDING, JobState.QUEUED})

__all__ = ["JobCreateRequest", "PriorityChange", "get_owned", "retry", "submit"]


def submit(
    *,
    account_id: str,
    api_key: str,
    request: JobCreateRequest,
    idempotency_key: str | None = None,
) -> JobRecord:
    model = (request.model or "").strip()
    match = request.model_match if model else "any"  # a blank model means `any`
    if request.webhook_url:
        from shared.engine.netguard import check_url

        check_url(request.webhook_url, allow_private=get_settings().allow_private_webhooks)
    if request.blob_ids:
        from shared.grid.blobs import confirmed_blobs

        confirmed_blobs(account_id=account_id, blob_ids=request.blob_ids)
    now = clock.now()
    within_quota = usage.count_request(account_id=account_id, tag=request.tag, now=now)
    try:
        job, created = _create(
            account_id=account_id,
            api_key=api_key,
            request=request,
            model=model,
            match=match,
            queued=within_quota,
            eligible_at=now if within_quota else usage.next_reset(now),
            idempotency_key=idempotency_key,
        )
    except AppError:
        usage.uncount_request(account_id=account_id, tag=request.tag, now=now)
        raise
    if not created:
        # An idempotent replay: the first request already counted (and boosted) this job.
        usage.uncount_request(account_id=account_id, tag=request.tag, now=now)
        return job
    if request.priority_boost:
        from shared.grid.boost import start_boost

        job = start_boost(job)
    return job


def _create(
    *,
    account_id: str,
    api_key: str,
    request: JobCreateRequest,
    model: str,
    match: str,
    queued: bool,
    eligible_at: dt.datetime,
    idempotency_key: str | None,
) -> tuple[JobRecord, bool]:
    """Create the job under a fresh grid id: (the job, whether this call created it)."""
    for _ in range(ID_TRIES):
        grid_id = new_id()
        doc_id = job_doc_id(grid_id)
        nonce = uuid.uuid4().hex
        site_fields = fields.GridJobFields(
            grid_id=grid_id,
            model_match=match,  # type: ignore[arg-type]
            model_family=family(model) if model else None,
            priority=request.priority or 0,
            timeout_seconds=request.timeout_seconds,
            tag=request.tag,
            webhook_url=request.webhook_url,
            blob_ids=request.blob_ids,
            nonce=nonce,
            eligible_at=eligible_at,
            boost={"status": "requested"} if request.priority_boost else None,
        )
        if request.webhook_url:
            from shared.engine.webhooks import seal

            # The signing secret is the client's key; only a sealed copy lives with the job.
            site_fields.webhook_secret = seal(api_key, context=doc_id)
        try:
            job = jobs.submit(
                JobCreate(
                    account_id=account_id,
                    site=SITE,
                    model=model,
                    backend=BACKEND,
                    input={"prompt": request.prompt},
                    price_micros=0,  # the free tier: no hold, nothing captured
                    site_fields=site_fields.model_dump(mode="python", exclude_none=True),
                    idempotency_key=idempotency_key,
                    request_fingerprint=request.fingerprint() if idempotency_key else None,
                    timeout_s=int(QUEUE_LIFETIME.total_seconds()),
                ),
                initial_state=JobState.QUEUED if queued else JobState.PENDING,
                dispatch=False,
                job_id=doc_id,
                extra_writes=queue.enqueue_writes if queued else None,
            )
        except CONFLICTS:
            continue  # the id is taken: another one
        except AppError as exc:
            # An engine that refuses a taken id says CONFLICT: take another id only when the
            # id really is another job's (not, say, an Idempotency-Key reused).
            if exc.kind is ErrorKind.CONFLICT and _taken_by_another(doc_id, nonce=nonce):
                continue
            raise
        if job.site_fields.get("nonce") == nonce:
            return job, True
        if (
            idempotency_key
            and job.account_id == account_id
            and job.idempotency_key == idempotency_key
        ):
            return job, False
        # An id collision answered with someone else's job: never show it, try another id.
    raise AppError(ErrorKind.UNAVAILABLE, "could not allocate a job id, retry")


def _taken_by_another(doc_id: str, *, nonce: str) -> bool:
    existing = jobs.find(doc_id)
    return existing is not None and existing.site_fields.get("nonce") != nonce


def get_owned(*, account_id: str, grid_id: int) -> JobRecord:
    job = jobs.find(job_doc_id(grid_id))
    if job is None or job.site != SITE or job.account_id != account_id:  # never another's
        raise AppError(ErrorKind.NOT_FOUND, "not_found")
    return job


def list_jobs(
    *,
    account_id: str,
    status: str | None,
    model: str | None,
    tag: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    offset: int,
) -> list[JobRecord]:
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    if offset > get_settings().grid_max_list_offset:
        # Firestore bills every skipped document: deeper pages are past the end (an empty
        # page, read for free); a client pages further back with `to`.
        return []
    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("account_id", "==", account_id))
        .where(filter=FieldFilter("site", "==", SITE))
    )
    if status:
        states = [str(s) for s, word in STATUS_WORDS.items() if word == status]
        query = query.where(filter=FieldFilter("state", "in", states))
    if model:
        query = query.where(filter=FieldFilter("model", "==", model))
    if tag:
        query = query.where(filter=FieldFilter(path("tag"), "==", tag))
    if start:
        query = query.where(filter=FieldFilter("created_at", ">=", start))
    if end:
        query = query.where(filter=FieldFilter("created_at", "<=", end))
    query = query.order_by("created_at", direction=firestore.Query.DESCENDING)
    query = query.offset(offset).limit(PAGE_SIZE)
    return [JobRecord(id=s.id, **s.to_dict()) for s in query.stream()]


def _dequeue(batch: Any, job: JobRecord, _captured: int) -> None:
    queue.dequeue_writes(batch, job.id)


def cancel(job: JobRecord) -> JobRecord:
    if job.state not in PENDING_STATES:
        raise AppError(ErrorKind.CONFLICT, "job is not pending")
    done = jobs.finish(
        job.id,
        state=JobState.CANCELLED,
        error="cancelled by client",
        only_from=PENDING_STATES,
        extra_writes=_dequeue,
    )
    if done.state is not JobState.CANCELLED:
        raise AppError(ErrorKind.CONFLICT, "job is not pending")
    return done


def cancel_all(*, account_id: str) -> int:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("account_id", "==", account_id))
        .where(filter=FieldFilter("site", "==", SITE))
        .where(filter=FieldFilter("state", "in", [str(s) for s in PENDING_STATES]))
    )
    cancelled = 0
    for snap in query.stream():
        done = jobs.finish(
            snap.id,
            state=JobState.CANCELLED,
            error="cancelled by client",
            only_from=PENDING_STATES,
            extra_writes=_dequeue,
        )
        cancelled += done.state is JobState.CANCELLED and done.error == "cancelled by client"
    return cancelled


def change_priority(job: JobRecord, delta: int) -> int:
    if delta == 0:
        raise AppError(ErrorKind.CONFLICT, "priority delta must not be zero")
    new = fields.of(job).priority + delta
    moved = jobs.transition(
        job.id,
        from_states=PENDING_STATES,
        fields={path("priority"): new},
        extra_writes=lambda batch, current: requeue_priority(batch, current, new),
    )
    if moved is None:
        raise AppError(ErrorKind.CONFLICT, "job is not pending")
    return fields.of(moved).priority


def requeue_priority(batch: Any, job: JobRecord, priority: int) -> None:
    """A queued job's queue entry follows its priority (a pending job has none)."""
    if job.state is JobState.QUEUED:
        queue.enqueue_writes(batch, job, priority=priority)


def retry(job: JobRecord) -> JobRecord:
    """Requeue a failed job in place as a new run: error and worker assignment cleared,
    the workers that failed it remembered (claims skip them)."""
    now = clock.now()
    moved = jobs.reopen(
        job.id,
        to_state=JobState.QUEUED,
        fields={
            "error": None,
            "completed_at": None,
            "started_at": None,
            "captured_micros": None,
            "timeout_at": now + QUEUE_LIFETIME,
            path("worker_id"): None,
            path("claim_id"): None,
            path("attempts"): 0,
            path("runs"): fields.of(job).runs + 1,
            path("eligible_at"): now,
        },
        extra_writes=queue.enqueue_writes,
    )
    if moved is None:
        raise AppError(ErrorKind.CONFLICT, "job is not failed")
    return moved


def release_quota_held(*, now: dt.datetime, page: int = 200, max_pages: int = 50) -> int:
    """Queue jobs held back by the quota once their day has reset (and they fit the new
    day's quota; otherwise they wait for the next reset). Works through every due job."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("site", "==", SITE))
        .where(filter=FieldFilter("state", "==", str(JobState.PENDING)))
        .where(filter=FieldFilter(path("eligible_at"), "<=", now))
        .limit(page)
    )
    released = 0
    for _ in range(max_pages):
        due = [JobRecord(id=s.id, **s.to_dict()) for s in query.stream()]
        for job in due:
            if usage.count_request(account_id=job.account_id, tag=fields.of(job).tag, now=now):
                moved = jobs.transition(
                    job.id,
                    from_states={JobState.PENDING},
                    to_state=JobState.QUEUED,
                    fields={path("eligible_at"): now},
                    extra_writes=queue.enqueue_writes,
                )
                released += moved is not None
            else:
                jobs.transition(
                    job.id,
                    from_states={JobState.PENDING},
                    fields={path("eligible_at"): usage.next_reset(now)},
                )
        if len(due) < page:
            break
    return released
