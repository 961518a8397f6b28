"""Grid claims: which queued job a polling worker is offered, and claiming it.

A poll reads the small claimable queue (shared/grid/queue.py), never the jobs collection:
the emulator keeps no indexes and scans every job, production bills every entry read.

What can never happen:
- A job is claimed by two workers: a claim is one batch (the job moved QUEUED -> CLAIMED,
  its queue entry deleted, the worker's held list extended) preconditioned on the update
  time of the read that showed the job QUEUED (and not failed by this worker); of two
  racing workers one write fails and that worker moves on. Pollers start at different
  places in the head of the queue (by worker id), so 32 of them do not all race for it.
- A job is offered to a worker in its `failed_workers` (it failed or let lapse a run): the
  entry's copy filters, the job's own list decides.
- A worker holds more claims than its registration's `max_concurrent_jobs`: the claim reads
  the worker's held list with the job and writes it preconditioned on that read, so no
  other claim of its own races the count; a list at the cap is checked against the jobs
  the worker really holds (a list can only name too many, never too few).
- A suspended worker (failure rate, shared/grid/workers.py) is offered anything (403).
- A worker is offered a job its registration does not serve: the poll's `models[]`,
  `families[]` and `catch_all` only narrow what the worker registered.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from typing import Any

from shared.engine import clock, job_records, store
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobRecord, JobState
from shared.engine.store import CONFLICTS, JOBS, db
from shared.grid import fields, queue, workers
from shared.grid.fields import path
from shared.grid.jobs import SITE
from shared.grid.workers import Worker

CANDIDATES = 32  # how far down the queue a poll looks
SPREAD = 32  # pollers start at different places among this many of the best candidates
POLL_INTERVAL_S = (0.2, 0.5)
LEASE_MARGIN_S = 15.0  # a poll's lease outlives its wait by this much
HELD = frozenset({JobState.CLAIMED, JobState.RUNNING})


class _AtCap:
    """A claim refused because the worker holds its `max_concurrent_jobs`."""


AT_CAP = _AtCap()


class _Candidate:
    """A queue entry: enough to choose a job; the claim reads the job itself."""

    def __init__(self, snap: Any):
        data = snap.to_dict()
        self.id = snap.id
        self.update_time = snap.update_time
        self.model = data.get("model", "")
        self.created_at = data["created_at"]
        self.priority = int(data.get("priority", 0))
        self.site_fields = {
            "model_match": data.get("model_match", "family"),
            "model_family": data.get("model_family"),
            "failed_workers": data.get("failed_workers") or [],
            "priority": self.priority,
        }


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
    """The head of the queue *for this worker*: the best queued grid jobs it may take,
    best first (priority, then age).

    One query per way a job can match (its model among the worker's; its family among the
    worker's, for family jobs; any job, for catch-all workers), so jobs no online worker
    can serve never block the ones behind them.
    """
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    def head(*filters: Any) -> Any:
        query: Any = db().collection(queue.QUEUE)
        for f in filters:
            query = query.where(filter=f)
        return (
            query.order_by("priority", direction=firestore.Query.DESCENDING)
            .order_by("created_at")
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
                FieldFilter("model_match", "==", "family"),
                FieldFilter("model_family", "in", sorted(families)[:30]),
            )
        )
    if catch_all:
        queries.append(head(FieldFilter("model_match", "==", "any")))
    found: dict[str, _Candidate] = {}
    for query in queries:
        for snap in query.stream():
            found[snap.id] = _Candidate(snap)
    return sorted(found.values(), key=lambda job: (-job.priority, job.created_at))


def offer_order(fitting: list[_Candidate], *, worker_id: int) -> list[_Candidate]:
    """The order in which a worker tries the fitting head of the queue: the best-priority
    jobs (at most SPREAD, oldest first) starting at the worker's own place among them, so
    concurrent pollers take disjoint jobs; then the rest in queue order."""
    if not fitting:
        return []
    best = [job for job in fitting if job.priority == fitting[0].priority][:SPREAD]
    rest = fitting[len(best) :]
    start = worker_id % len(best)
    return best[start:] + best[:start] + rest


def capabilities(
    worker: Worker, *, models: set[str], families: set[str], catch_all: bool
) -> tuple[set[str], set[str], bool]:
    """What a poll may be offered: the registration, narrowed by what the poll declares
    (a poll that declares nothing takes the registration as it is)."""
    registered, registered_families = worker.served()
    if not (models or families or catch_all):
        return registered, registered_families, worker.catch_all
    return models & registered, families & registered_families, catch_all and worker.catch_all


def held_jobs(worker: Worker) -> list[str]:
    """The jobs this worker holds (claimed or running), from the jobs themselves."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("site", "==", SITE))
        .where(filter=FieldFilter(path("worker_id"), "==", worker.id))
        .where(filter=FieldFilter("state", "in", [str(s) for s in HELD]))
        .select([])
    )
    return [snap.id for snap in query.stream()]


def held_count(worker: Worker) -> int:
    """How many jobs this worker holds (claimed or running)."""
    return len(held_jobs(worker))


def claim_next(
    *, worker: Worker, models: set[str], families: set[str], catch_all: bool, wait_s: float
) -> JobRecord | None:
    """Claim the best job this worker may take, waiting up to `wait_s` for one.

    Only while the worker holds fewer jobs than its cap and is not suspended; the poll
    holds the worker's poll lease throughout, so its claims are the worker's only ones.
    """
    if worker.suspended():
        raise AppError(ErrorKind.FORBIDDEN, "worker suspended: too many failed runs")
    models, families, catch_all = capabilities(
        worker, models=models, families=families, catch_all=catch_all
    )
    lease = workers.begin_poll(worker.id, hold_s=wait_s + LEASE_MARGIN_S)
    try:
        return claim_queued(
            worker=worker, models=models, families=families, catch_all=catch_all, wait_s=wait_s
        )
    finally:
        workers.end_poll(worker.id, lease)


def claim_queued(
    *, worker: Worker, models: set[str], families: set[str], catch_all: bool, wait_s: float
) -> JobRecord | None:
    """Tries the fitting head of the queue in this worker's order (`offer_order`), so a
    worker that loses a race moves on without asking the queue again; asks again every
    POLL_INTERVAL_S until `wait_s` is over. At its cap, nothing is offered until a held job
    finishes or the poll ends."""
    deadline = time.monotonic() + wait_s
    while True:
        fitting = [
            job
            for job in _candidates(models=models, families=families, catch_all=catch_all)
            # A worker that failed a run of a job is never offered it again.
            if worker.id not in job.site_fields["failed_workers"]
            and matches(job, models=models, families=families, catch_all=catch_all)
        ]
        for job in offer_order(fitting, worker_id=worker.id):
            claimed = _claim(job, worker=worker)
            if claimed is AT_CAP:
                break
            if isinstance(claimed, JobRecord):
                return claimed
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(random.uniform(*POLL_INTERVAL_S), max(0.0, deadline - time.monotonic())))


def _claim(candidate: _Candidate, *, worker: Worker) -> JobRecord | _AtCap | None:
    """Claim one queued job for this worker: the job, AT_CAP, or None if it is not (any
    longer) claimable by this worker (someone else was faster)."""
    from google.cloud import firestore

    job_ref, held_ref = job_records.ref(candidate.id), queue.held_ref(worker.id)
    snaps = {snap.reference.path: snap for snap in db().get_all([job_ref, held_ref])}
    job_snap, held_snap = snaps[job_ref.path], snaps[held_ref.path]
    if not job_snap.exists or job_snap.get("state") != str(JobState.QUEUED):
        queue.drop_stale(candidate.id, entry_update_time=candidate.update_time)
        return None
    job = job_records.record(job_snap)
    sf = fields.of(job)
    if job.site != SITE or worker.id in sf.failed_workers:
        return None
    held = list((held_snap.to_dict() or {}).get("jobs", [])) if held_snap.exists else []
    if len(held) >= worker.max_concurrent_jobs and not _below_cap(worker, held_snap):
        return AT_CAP
    now = clock.now()
    claim_id = uuid.uuid4().hex
    update = {
        "state": str(JobState.CLAIMED),
        path("claim_id"): claim_id,
        path("worker_id"): worker.id,
        path("claimed_at"): now,
        path("attempts"): sf.attempts + 1,
        "timeout_at": now + dt.timedelta(seconds=sf.timeout_seconds),
    }
    batch = db().batch()
    batch.update(
        job_ref, update, option=firestore.Client.write_option(last_update_time=job_snap.update_time)
    )
    queue.dequeue_writes(batch, job.id)
    if held_snap.exists:
        batch.update(
            held_ref,
            {"jobs": firestore.ArrayUnion([job.id])},
            option=firestore.Client.write_option(last_update_time=held_snap.update_time),
        )
    else:
        batch.create(held_ref, {"jobs": [job.id]})
    try:
        store.commit(batch, label="grid.claim")
    except CONFLICTS:
        # Another claim was faster, or a commit retried by the client library reported a
        # conflict with its own first, successful attempt: the claim id tells ours.
        current = job_records.find(job.id)
        if current is None or fields.of(current).claim_id != claim_id:
            return None
        return current
    data = job_snap.to_dict()
    site_fields = {**data.pop("site_fields", {})}
    for key, value in update.items():
        if key.startswith("site_fields."):
            site_fields[key.removeprefix("site_fields.")] = value
        else:
            data[key] = value
    return JobRecord(id=job.id, **{**data, "site_fields": site_fields})


def _below_cap(worker: Worker, held_snap: Any) -> bool:
    """A held list at the cap, checked against the jobs themselves: a list names a job the
    worker no longer holds when the write that ended the hold could not take it off. Puts
    the list right (unless it changed since it was read: then the claim waits for the next
    try); True if the worker really holds fewer than its cap."""
    from google.cloud import firestore

    actual = held_jobs(worker)
    if len(actual) >= worker.max_concurrent_jobs:
        return False
    batch = db().batch()
    batch.update(
        held_snap.reference,
        {"jobs": actual},
        option=firestore.Client.write_option(last_update_time=held_snap.update_time),
    )
    try:
        store.commit(batch, label="grid.held_list")
    except CONFLICTS:
        return False
    return True
