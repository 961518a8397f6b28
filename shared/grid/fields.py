"""What the grid keeps on a job (`JobRecord.site_fields`), as one typed model.

Reads go through `of(job)`; writes name their field through `path(name)`, which refuses a
name the model does not have, so a typo cannot write a field nothing reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.engine.jobs import JobRecord


class GridJobFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    grid_id: int
    model_match: Literal["exact", "family", "any"] = "family"
    model_family: str | None = None
    priority: int = 0
    timeout_seconds: int = 600
    tag: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None  # the client's key, sealed for this job's id
    blob_ids: list[int] = []
    nonce: str | None = None  # tells the submit that created the job from an id collision
    eligible_at: dt.datetime | None = None  # over-quota jobs wait until this moment
    runs: int = 1  # 1 + client retries; a run's webhook delivery id carries it
    attempts: int = 0  # claims within this run (the sweep fails a run after MAX_ATTEMPTS)
    claim_id: str | None = None  # the current claim; None while nobody holds the job
    worker_id: int | None = None
    claimed_at: dt.datetime | None = None
    failed_workers: list[int] = []  # workers that failed a run: never offered it again
    last_error: str | None = None
    failure_id: str | None = None  # the worker's fail report that failed this run
    result_id: str | None = None  # the result submission that completed the job
    output: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    duration_ms: int | None = None
    model_used: str | None = None
    earned_micros: int | None = None
    boost: dict[str, Any] | None = None


def of(job: JobRecord) -> GridJobFields:
    return GridJobFields.model_validate(job.site_fields)


def path(name: str) -> str:
    """The Firestore field path of one grid field, for updates."""
    if name not in GridJobFields.model_fields:
        raise KeyError(f"grid jobs have no field {name!r}")
    return f"site_fields.{name}"
