"""Marketplace runs as the Tarsify document shows them: request models and renderers.

A run is an engine job of site "market"; its public status is the engine state, except
that CLAIMED (a pull backend's worker took it) shows as RUNNING. Times are the document's
`2026-01-20T00:00:00Z`; `executionTimeMs` is completion minus start (or, for a run that
never reported a start, minus when it was queued), null until the run ends. A completed
run's output is a V4 signed URL of its first output, valid for `output_url_ttl_s` after
completion (null once expired). Nothing here moves money or job state.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.engine import clock
from shared.engine.jobs import JobRecord, JobState
from shared.engine.outputs import signed_url
from shared.engine.settings import get_settings
from shared.market.paging import PageQuery
from shared.market.records import iso


class RunStatus(StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


STATUS_OF: dict[JobState, RunStatus] = {
    JobState.PENDING: RunStatus.PENDING,
    JobState.QUEUED: RunStatus.QUEUED,
    JobState.CLAIMED: RunStatus.RUNNING,
    JobState.RUNNING: RunStatus.RUNNING,
    JobState.COMPLETED: RunStatus.COMPLETED,
    JobState.FAILED: RunStatus.FAILED,
    JobState.CANCELLED: RunStatus.CANCELLED,
}


def states_for(status: RunStatus) -> list[str]:
    """The engine states a public status filter stands for."""
    return [str(state) for state, shown in STATUS_OF.items() if shown is status]


class RunRequest(BaseModel):
    """POST /api/marketplace/models/:slug/run."""

    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any]


class RunsQuery(PageQuery):
    """GET /api/marketplace/runs."""

    status: RunStatus | None = None


class StatusQuery(BaseModel):
    """GET /api/marketplace/runs/:id/status: `sync` is `true` or `false`, nothing else."""

    model_config = ConfigDict(extra="ignore")

    sync: Literal["true", "false"] = "false"

    @property
    def wants_sync(self) -> bool:
        return self.sync == "true"


def execution_time_ms(job: JobRecord) -> int | None:
    began = job.started_at or job.queued_at
    if job.completed_at is None or began is None:
        return None
    return max(0, int((job.completed_at - began) / dt.timedelta(milliseconds=1)))


def output_payload(job: JobRecord) -> dict[str, Any] | None:
    if job.state is not JobState.COMPLETED or job.completed_at is None:
        return None
    url = None
    if job.outputs:
        expires = job.completed_at + dt.timedelta(seconds=get_settings().output_url_ttl_s)
        url = signed_url(job.outputs[0], expires_at=expires, now=clock.now())
    return {"output": url}


def error_message(job: JobRecord) -> str | None:
    if job.state in (JobState.FAILED, JobState.CANCELLED):
        return job.error
    return None


def tars_model(job: JobRecord) -> dict[str, Any]:
    fields = job.site_fields
    return {
        "id": fields.get("tars_model_id"),
        "title": fields.get("title"),
        "slug": fields.get("slug"),
    }


def render_started(job: JobRecord) -> dict[str, Any]:
    return {
        "executionId": job.id,
        "status": str(STATUS_OF[job.state]),
        "estimatedSeconds": job.site_fields.get("estimated_seconds"),
    }


def render_item(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": str(STATUS_OF[job.state]),
        "tarsModel": tars_model(job),
        "createdAt": iso(job.created_at),
        "completedAt": iso(job.completed_at),
        "executionTimeMs": execution_time_ms(job),
    }


def render_run(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": str(STATUS_OF[job.state]),
        "tarsModel": tars_model(job),
        "inputPayload": job.site_fields.get("inputs", {}),
        "outputPayload": output_payload(job),
        "errorMessage": error_message(job),
        "createdAt": iso(job.created_at),
        "completedAt": iso(job.completed_at),
        "executionTimeMs": execution_time_ms(job),
    }


def render_status(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": str(STATUS_OF[job.state]),
        "outputPayload": output_payload(job),
        "errorMessage": error_message(job),
        "completedAt": iso(job.completed_at),
        "executionTimeMs": execution_time_ms(job),
    }


def render_cancelled(job: JobRecord) -> dict[str, Any]:
    return {"id": job.id, "status": str(STATUS_OF[job.state]), "message": "Execution cancelled"}
