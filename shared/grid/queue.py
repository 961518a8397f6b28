"""The grid's claimable queue and its workers' held lists: what a poll reads instead of
scanning the jobs collection.

`grid_queue` holds one small entry per QUEUED grid job (doc id = the job's), with only what
a claim filters and orders by. `grid_held/<worker>` lists the jobs a worker holds.

What can never happen:
- A QUEUED job without its entry: every write that makes a grid job QUEUED (submit, a
  quota release, a client's retry, the sweep's requeue) writes the entry in the same batch,
  from the snapshot that write is preconditioned on. A claim deletes it in the claim's own
  batch; a cancel in the cancel's.
- A stale entry leading to a wrong claim: an entry only points at a job; the claim reads
  the job itself and writes under a precondition on that read. An entry whose job is no
  longer QUEUED is deleted under a precondition on the entry's own read, so it never
  removes an entry a later requeue wrote again.
- A worker holding a job that is not on its held list: the claim adds the job to the list
  in the claim's batch, preconditioned on the list it counted. A job leaving the worker
  takes itself off; a list that still names jobs the worker no longer holds only makes the
  count too high, and a count at the cap is checked against the jobs themselves.
"""

from __future__ import annotations

import contextlib
from typing import Any

from shared.engine.jobs import JobRecord
from shared.engine.store import db

QUEUE = "grid_queue"
HELD_LISTS = "grid_held"


def entry_ref(job_id: str) -> Any:
    return db().collection(QUEUE).document(job_id)


def held_ref(worker_id: int) -> Any:
    return db().collection(HELD_LISTS).document(str(worker_id))


def entry(job: JobRecord, **site_fields: Any) -> dict[str, Any]:
    """The queue entry of a job, from its snapshot with `site_fields` changed."""
    sf = {**job.site_fields, **site_fields}
    return {
        "model": job.model,
        "created_at": job.created_at,
        "priority": int(sf.get("priority", 0)),
        "model_match": sf.get("model_match", "family"),
        "model_family": sf.get("model_family"),
        "failed_workers": list(sf.get("failed_workers") or []),
    }


def enqueue_writes(batch: Any, job: JobRecord, **site_fields: Any) -> None:
    """Add the job's entry to a batch that makes it QUEUED (or changes its priority)."""
    batch.set(entry_ref(job.id), entry(job, **site_fields))


def dequeue_writes(batch: Any, job_id: str) -> None:
    batch.delete(entry_ref(job_id))


def release_writes(batch: Any, *, worker_id: int | None, job_id: str) -> None:
    """Take a job off its worker's held list, in the batch that ends the worker's hold."""
    from google.cloud import firestore

    if worker_id is not None:
        batch.set(held_ref(worker_id), {"jobs": firestore.ArrayRemove([job_id])}, merge=True)


def drop_stale(job_id: str, *, entry_update_time: Any) -> None:
    """Delete an entry whose job is no longer QUEUED, unless it was written again since."""
    from google.cloud import firestore

    from shared.engine.store import CONFLICTS

    batch = db().batch()
    batch.delete(
        entry_ref(job_id),
        option=firestore.Client.write_option(last_update_time=entry_update_time),
    )
    # A conflict: requeued (written again) or already gone, either way not ours to delete.
    with contextlib.suppress(*CONFLICTS):
        batch.commit()
