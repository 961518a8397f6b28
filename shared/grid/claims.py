"""Grid claims: which queued job a polling worker is offered, and claiming it.

A poll reads the small claimable queue (shared/grid/queue.py), never the jobs collection:
the emulator keeps no indexes and scans every job, production bills every entry read.

What can never happen:
- A job is claimed by two workers: a claim is one batch (the job moved QUEUED -> CLAIMED,
  its queue entry deleted, the worker's held list extended) preconditioned on the update
  time of the read that showed the job QUEUED (and not failed by this worker); of two
  racing workers one write fails and that worker moves on. Default-priority jobs are
  dealt to slices of the queue by id and a poller reads its own slice first (by worker
  id), so 32 of them do not all race for the head.
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

CANDIDATES = 8  # how far down the whole queue a poll looks
SPREAD = 8  # pollers start at different places among this many of the best candidates
SLICE_DEPTH = 2  # how far down its own slice of the queue a poll looks first
POLL_INTERVAL_S = (0.2, 0.5)
LEASE_MARGIN_S = 15.0  # a poll's lease outlives its wait by this much
HELD = frozenset({JobState.CLAIMED, JobState.RUNNING})
# States a job only reaches through a claim (whose batch deleted its queue entry).
CLAIMED_SINCE = frozenset(str(s) for s in (*HELD, JobState.COMPLETED))


LOST_TO_HELD = object()  # a claim whose worker's held list changed since it was counted


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


def _candidates(
    *,
    models: set[str],
    families: set[str],
    catch_all: bool,
    slots: list[int] | None = None,
    depth: int = CANDIDATES,
) -> list[_Candidate]:
    """The head of the queue *for this worker* (of some slices of it, with `slots`): the best
    `depth` queued grid jobs it may take per way of matching, best first (priority, then
    age).

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
        if slots is not None:
            query = query.where(filter=FieldFilter("slot", "in", slots))
        return (
            query.order_by("priority", direction=firestore.Query.DESCENDING)
            .order_by("created_at")
            .limit(depth)
        )

    def one_of(field: str, values: set[str]) -> Any:
        # Firestore's `in` takes at most 30 values; a worker serving more is unusual, and
        # the rest of its models still match through their families. One value is `==`
        # (the emulator answers it in half the time).
        if len(values) == 1:
            return FieldFilter(field, "==", next(iter(values)))
        return FieldFilter(field, "in", sorted(values)[:30])

    queries = []
    if models:
        queries.append(head(one_of("model", models)))
    if families:
        queries.append(
            head(FieldFilter("model_match", "==", "family"), one_of("model_family", families))
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
    concurrent pollers take different jobs; then the rest in queue order."""
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
    """Claim a job, asking the queue again every POLL_INTERVAL_S until `wait_s` is over.
    At its cap, nothing is offered until a held job finishes or the poll ends."""
    deadline = time.monotonic() + wait_s
    while True:
        held = _Held(worker)
        if held.below_cap():
            claimed = _claim_one(
                worker=worker, held=held, models=models, families=families, catch_all=catch_all
            )
            if claimed is not None:
                return claimed
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(random.uniform(*POLL_INTERVAL_S), max(0.0, deadline - time.monotonic())))


class _Held:
    """The worker's held list as one read saw it (a claim extends it preconditioned on
    that read)."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.ref = queue.held_ref(worker.id)
        data, self.update_time = queue.read(self.ref)
        self.jobs: list[str] = list((data or {}).get("jobs", []))

    def below_cap(self) -> bool:
        """Whether the worker may claim one more. A list at the cap is checked against the
        jobs themselves (a list names a job the worker no longer holds when the write that
        ended the hold could not take it off) and put right."""
        if len(self.jobs) < self.worker.max_concurrent_jobs:
            return True
        actual = held_jobs(self.worker)
        if len(actual) >= self.worker.max_concurrent_jobs or self.update_time is None:
            return False
        from google.cloud import firestore

        batch = db().batch()
        batch.update(
            self.ref,
            {"jobs": actual},
            option=firestore.Client.write_option(last_update_time=self.update_time),
        )
        try:
            results = store.commit(batch, label="grid.held_list")
        except CONFLICTS:
            return False  # it changed meanwhile: the next look reads it again
        self.jobs, self.update_time = actual, results[0].update_time
        return True

    def add_writes(self, batch: Any, job_id: str) -> None:
        from google.cloud import firestore

        if self.update_time is None:
            batch.create(self.ref, {"jobs": [job_id]})
            return
        batch.update(
            self.ref,
            {"jobs": firestore.ArrayUnion([job_id])},
            option=firestore.Client.write_option(last_update_time=self.update_time),
        )


def _claim_one(
    *, worker: Worker, held: _Held, models: set[str], families: set[str], catch_all: bool
) -> JobRecord | None:
    """One look at the queue. First the head of the worker's own slice of the default-
    priority jobs (disjoint from the slices of the workers beside it, so they do not race)
    together with the jobs of raised or lowered priority, which every worker sees: a
    raised one comes first. If the best of these is not claimed, or is of lowered priority
    (default ones may wait in other slices), the head of the whole queue, tried from this
    worker's place in it (`offer_order`). A lost race moves on to the next job without
    asking the queue again."""

    def fitting(candidates: list[_Candidate]) -> list[_Candidate]:
        return [
            job
            for job in candidates
            # A worker that failed a run of a job is never offered it again.
            if worker.id not in job.site_fields["failed_workers"]
            and matches(job, models=models, families=families, catch_all=catch_all)
        ]

    def head(*, slots: list[int] | None = None, depth: int = CANDIDATES) -> list[_Candidate]:
        return _candidates(
            models=models, families=families, catch_all=catch_all, slots=slots, depth=depth
        )

    first = fitting(head(slots=[worker.id % queue.SLOTS, queue.SHARED_SLOT], depth=SLICE_DEPTH))
    first = [job for job in first if job.priority >= 0] if first and first[0].priority >= 0 else []
    tried = {job.id for job in first}
    rest = [job for job in fitting(head()) if job.id not in tried] if not first else []
    for job in first + offer_order(rest, worker_id=worker.id):
        claimed = _claim(job, worker=worker, held=held)
        if claimed is LOST_TO_HELD:
            held = _Held(worker)  # a held job finished meanwhile: count again
            if not held.below_cap():
                return None
        elif claimed is not None:
            return claimed
    if first:
        # The slice's jobs were taken: the head of the whole queue, once.
        rest = [job for job in fitting(head()) if job.id not in tried]
        for job in offer_order(rest, worker_id=worker.id):
            claimed = _claim(job, worker=worker, held=held)
            if claimed is LOST_TO_HELD:
                held = _Held(worker)
                if not held.below_cap():
                    return None
            elif claimed is not None:
                return claimed
    return None


def _claim(candidate: _Candidate, *, worker: Worker, held: _Held) -> Any:
    """Claim one queued job for this worker: the job, None if it is not (any longer)
    claimable by this worker (someone else was faster), or LOST_TO_HELD when the worker's
    held list changed since it was counted."""
    from google.cloud import firestore

    job_ref = job_records.ref(candidate.id)
    data, update_time = queue.read(job_ref)
    if data is None or data.get("state") != str(JobState.QUEUED):
        # A job another claim took (held, or finished since) lost its entry in that claim's
        # batch: only an entry left behind by some other way out of QUEUED is cleared.
        if data is None or data.get("state") not in CLAIMED_SINCE:
            queue.drop_stale(candidate.id, entry_update_time=candidate.update_time)
        return None
    job = JobRecord(id=candidate.id, **data)
    sf = fields.of(job)
    if job.site != SITE or worker.id in sf.failed_workers:
        return None
    now = clock.now()
    claim_id = uuid.uuid4().hex
    claim = {
        "claim_id": claim_id,
        "worker_id": worker.id,
        "claimed_at": now,
        "attempts": sf.attempts + 1,
    }
    timeout_at = now + dt.timedelta(seconds=sf.timeout_seconds)
    batch = db().batch()
    batch.update(
        job_ref,
        {
            "state": str(JobState.CLAIMED),
            **{path(name): value for name, value in claim.items()},
            "timeout_at": timeout_at,
        },
        option=firestore.Client.write_option(last_update_time=update_time),
    )
    queue.dequeue_writes(batch, job.id)
    held.add_writes(batch, job.id)
    try:
        store.commit(batch, label="grid.claim")
    except CONFLICTS:
        # Another claim was faster, the held list changed, or a commit retried by the
        # client library reported a conflict with its own first, successful attempt: the
        # claim id tells ours.
        current = job_records.find(job.id)
        if current is not None and fields.of(current).claim_id == claim_id:
            return current
        if current is not None and current.state is JobState.QUEUED:
            return LOST_TO_HELD
        return None
    return job.model_copy(
        update={
            "state": JobState.CLAIMED,
            "timeout_at": timeout_at,
            "site_fields": {**job.site_fields, **claim},
        }
    )
