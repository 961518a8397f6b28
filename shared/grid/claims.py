"""Grid claims: which queued job a polling worker is offered, and claiming it.

What can never happen:
- A job is claimed by two workers: a claim is a `jobs.transition` from QUEUED,
  preconditioned on the update time of the snapshot that showed it QUEUED (and not failed
  by this worker); of two racing workers one write fails and that worker moves on.
  Pollers shuffle the top candidates so 32 of them do not all race for the head.
- A job is offered to a worker in its `failed_workers` (it failed or let lapse a run).
- A worker holds more claims than its registration's `max_concurrent_jobs`: a poll counts
  the jobs the worker holds before each claim, and a worker polls one at a time (the poll
  lease of shared/grid/workers.py), so no claim of its own races the count.
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

from shared.engine import clock, jobs
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobRecord, JobState
from shared.engine.store import JOBS, db
from shared.grid import fields, workers
from shared.grid.fields import path
from shared.grid.jobs import SITE
from shared.grid.workers import Worker

CANDIDATES = 16  # how far down the queue a poll looks
SPREAD = 8  # claims are spread over this many of the best candidates
POLL_INTERVAL_S = (0.2, 0.5)
LEASE_MARGIN_S = 15.0  # a poll's lease outlives its wait by this much
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


def capabilities(
    worker: Worker, *, models: set[str], families: set[str], catch_all: bool
) -> tuple[set[str], set[str], bool]:
    """What a poll may be offered: the registration, narrowed by what the poll declares
    (a poll that declares nothing takes the registration as it is)."""
    registered, registered_families = worker.served()
    if not (models or families or catch_all):
        return registered, registered_families, worker.catch_all
    return models & registered, families & registered_families, catch_all and worker.catch_all


def held_count(worker: Worker) -> int:
    """How many jobs this worker holds (claimed or running)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("site", "==", SITE))
        .where(filter=FieldFilter(path("worker_id"), "==", worker.id))
        .where(filter=FieldFilter("state", "in", [str(s) for s in HELD]))
        .select([])
    )
    return sum(1 for _ in query.stream())


def claim_next(
    *, worker: Worker, models: set[str], families: set[str], catch_all: bool, wait_s: float
) -> JobRecord | None:
    """Claim the best job this worker may take, waiting up to `wait_s` for one.

    Only while the worker holds fewer jobs than its cap and is not suspended; the poll
    holds the worker's poll lease throughout, so its claims are the worker's only ones.
    Tries the best SPREAD fitting jobs in random order, then the rest in queue order, so a
    worker that loses a race moves on without asking the queue again.
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
    deadline = time.monotonic() + wait_s
    while True:
        if held_count(worker) >= worker.max_concurrent_jobs:
            # At its cap: nothing is offered until a held job finishes or the poll ends.
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(random.uniform(*POLL_INTERVAL_S), deadline - time.monotonic()))
            continue
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
