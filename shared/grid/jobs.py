"""Grid jobs, client side: submit, read, list, cancel, reprioritise, retry, and the
usage they count.

Rules kept here:
- A job is always accepted (201) while the key is active and the account can cover the
  hold; over the daily quota it is created PENDING with `eligible_at` at the next reset
  and workers never see it until `release_quota_held` queues it then.
- Only pending jobs (PENDING or QUEUED) can be cancelled or reprioritised; only failed
  jobs retried, and a retry places a new hold (`<job>:r<n>`) like a new submit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from shared.engine import clock, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobCreate, JobRecord, JobState
from shared.engine.settings import get_settings
from shared.engine.store import CONFLICTS, JOBS, db
from shared.engine.validate import FieldKey
from shared.grid import pricing, usage
from shared.grid.ids import job_doc_id, new_id
from shared.grid.workers import family

SITE = "grid"
BACKEND = "grid"
QUEUE_LIFETIME = dt.timedelta(days=7)  # an unclaimed job fails (and is released) after this
PAGE_SIZE = 50
MAX_PROMPT_CHARS = 200_000
STATUS_WORDS = {
    JobState.PENDING: "pending",
    JobState.QUEUED: "pending",
    JobState.CLAIMED: "claimed",
    JobState.RUNNING: "running",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
}
PENDING_STATES = frozenset({JobState.PENDING, JobState.QUEUED})


class JobCreateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: StrictStr | None = Field(default=None, max_length=200)
    model_match: Literal["exact", "family", "any"] = "family"
    prompt: StrictStr = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    priority: StrictInt | None = Field(default=None, ge=-1000, le=1000)
    timeout_seconds: StrictInt = Field(default=600, ge=1, le=86_400)
    tag: FieldKey | None = Field(default=None, max_length=100)  # a map key in usage counters
    webhook_url: StrictStr | None = Field(default=None, max_length=2048)
    priority_boost: StrictBool = False
    blob_ids: list[StrictInt] = Field(default_factory=list, max_length=20)


class PriorityChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    priority: StrictInt = Field(ge=-1000, le=1000)


def _invalid(message: str) -> AppError:
    return AppError(ErrorKind.INVALID, message, {"errors": [message]})


def submit(*, account_id: str, api_key: str, request: JobCreateRequest) -> JobRecord:
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
    grid_id = new_id()
    doc_id = job_doc_id(grid_id)
    site_fields: dict[str, Any] = {
        "grid_id": grid_id,
        "model_match": match,
        "model_family": family(model) if model else None,
        "priority": request.priority or 0,
        "timeout_seconds": request.timeout_seconds,
        "tag": request.tag,
        "webhook_url": request.webhook_url,
        "blob_ids": request.blob_ids,
        "attempts": 0,
        "eligible_at": now if within_quota else usage.next_reset(now),
    }
    if request.webhook_url:
        from shared.engine.webhooks import seal

        # The signing secret is the client's key; only a sealed copy lives with the job.
        site_fields["webhook_secret"] = seal(api_key, context=doc_id)
    if request.priority_boost:
        site_fields["boost"] = "requested"
    try:
        job = jobs.submit(
            JobCreate(
                account_id=account_id,
                site=SITE,
                model=model,
                backend=BACKEND,
                input={"prompt": request.prompt},
                price_micros=pricing.HOLD_MICROS,
                site_fields=site_fields,
                timeout_s=int(QUEUE_LIFETIME.total_seconds()),
            ),
            initial_state=JobState.QUEUED if within_quota else JobState.PENDING,
            dispatch=False,
            job_id=doc_id,
        )
    except AppError as exc:
        usage.uncount_request(account_id=account_id, tag=request.tag, now=now)
        if exc.kind is ErrorKind.INSUFFICIENT_FUNDS:
            raise _invalid(
                f"insufficient credits: a job holds {pricing.credits(pricing.HOLD_MICROS)} "
                "credits until its result is known"
            ) from exc
        raise
    if request.priority_boost:
        from shared.grid.boost import start_boost

        job = start_boost(job)
    return job


def get_owned(*, account_id: str, grid_id: int) -> JobRecord:
    job = jobs.find(job_doc_id(grid_id))
    if job is None or job.site != SITE or job.account_id != account_id:
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
        query = query.where(filter=FieldFilter("site_fields.tag", "==", tag))
    if start:
        query = query.where(filter=FieldFilter("created_at", ">=", start))
    if end:
        query = query.where(filter=FieldFilter("created_at", "<=", end))
    query = query.order_by("created_at", direction=firestore.Query.DESCENDING)
    query = query.offset(offset).limit(PAGE_SIZE)
    return [JobRecord(id=s.id, **s.to_dict()) for s in query.stream()]


def cancel(job: JobRecord) -> JobRecord:
    if job.state not in PENDING_STATES:
        raise AppError(ErrorKind.CONFLICT, "job is not pending")
    done = jobs.finish(
        job.id, state=JobState.CANCELLED, error="cancelled by client", only_from=PENDING_STATES
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
            snap.id, state=JobState.CANCELLED, error="cancelled by client", only_from=PENDING_STATES
        )
        cancelled += done.state is JobState.CANCELLED and done.error == "cancelled by client"
    return cancelled


def change_priority(job: JobRecord, delta: int) -> int:
    if delta == 0:
        raise AppError(ErrorKind.CONFLICT, "priority delta must not be zero")
    new = int(job.site_fields.get("priority", 0)) + delta
    moved = jobs.transition(
        job.id, from_states=PENDING_STATES, fields={"site_fields.priority": new}
    )
    if moved is None:
        raise AppError(ErrorKind.CONFLICT, "job is not pending")
    return int(moved.site_fields["priority"])


def retry(job: JobRecord) -> JobRecord:
    """Requeue a failed job in place, with a new hold for the new run."""
    if job.state is not JobState.FAILED:
        raise AppError(ErrorKind.CONFLICT, "job is not failed")
    run = int(job.site_fields.get("runs", 1)) + 1
    ref = f"{job.id}:r{run}"
    micros = job.price_micros
    try:
        shard = ledger.reserve(account_id=job.account_id, reservation_id=ref, micros=micros)
    except CONFLICTS:
        raise AppError(ErrorKind.CONFLICT, "job is being retried") from None
    except AppError as exc:
        if exc.kind is ErrorKind.INSUFFICIENT_FUNDS:
            raise AppError(ErrorKind.CONFLICT, "insufficient credits to retry") from exc
        raise
    from google.cloud import firestore

    now = clock.now()
    batch = db().batch()
    snap = jobs.document(job.id).get()
    if JobState(snap.get("state")) is not JobState.FAILED:
        ledger.undo_reservation(
            account_id=job.account_id, reservation_id=ref, shard=shard, micros=micros
        )
        raise AppError(ErrorKind.CONFLICT, "job is not failed")
    batch.update(
        jobs.document(job.id),
        {
            "state": str(JobState.QUEUED),
            "error": None,
            "completed_at": None,
            "started_at": None,
            "captured_micros": None,
            "hold_ref": ref,
            "hold_shard": shard,
            "timeout_at": now + QUEUE_LIFETIME,
            "site_fields.worker_id": None,
            "site_fields.attempts": 0,
            "site_fields.runs": run,
            "site_fields.eligible_at": now,
        },
        option=firestore.Client.write_option(last_update_time=snap.update_time),
    )
    ledger.hold_writes(
        batch, account_id=job.account_id, job_id=job.id, shard=shard, micros=micros, ref=ref
    )
    try:
        batch.commit()
    except CONFLICTS:
        ledger.undo_reservation(
            account_id=job.account_id, reservation_id=ref, shard=shard, micros=micros
        )
        raise AppError(ErrorKind.CONFLICT, "job changed, retry") from None
    return jobs.get(job.id)


def release_quota_held(*, now: dt.datetime, page: int = 200, max_pages: int = 50) -> int:
    """Queue jobs held back by the quota once their day has reset (and they fit the new
    day's quota; otherwise they wait for the next reset). Works through every due job."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("site", "==", SITE))
        .where(filter=FieldFilter("state", "==", str(JobState.PENDING)))
        .where(filter=FieldFilter("site_fields.eligible_at", "<=", now))
        .limit(page)
    )
    released = 0
    for _ in range(max_pages):
        due = [JobRecord(id=s.id, **s.to_dict()) for s in query.stream()]
        for job in due:
            if usage.count_request(
                account_id=job.account_id, tag=job.site_fields.get("tag"), now=now
            ):
                moved = jobs.transition(
                    job.id,
                    from_states={JobState.PENDING},
                    to_state=JobState.QUEUED,
                    fields={"site_fields.eligible_at": now},
                )
                released += moved is not None
            else:
                jobs.transition(
                    job.id,
                    from_states={JobState.PENDING},
                    fields={"site_fields.eligible_at": usage.next_reset(now)},
                )
        if len(due) < page:
            break
    return released


def render(job: JobRecord) -> dict[str, Any]:
    sf = job.site_fields
    return {
        "job_id": int(sf["grid_id"]),
        "status": STATUS_WORDS[job.state],
        "model": job.model or None,
        "model_match": sf.get("model_match", "family"),
        "output": sf.get("output"),
        "input_tokens": sf.get("input_tokens"),
        "output_tokens": sf.get("output_tokens"),
        "duration_ms": sf.get("duration_ms"),
        "priority": int(sf.get("priority", 0)),
        "timeout_seconds": int(sf.get("timeout_seconds", 600)),
        "tag": sf.get("tag"),
        "created_at": clock.iso(job.created_at),
        "completed_at": clock.iso(job.completed_at),
    } | ({"priority_boost": _boost(job)} if sf.get("boost") else {})


def _boost(job: JobRecord) -> dict[str, Any] | None:
    from shared.grid.boost import render

    return render(job)
