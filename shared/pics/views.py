"""PicShapes' request and response shapes, in one place.

The request models the site parses and the renderers that turn engine records into the
PicShapes document's JSON (job, result, profile, status words). Nothing here moves money
or job state; shared/pics/service.py holds the site's rules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from shared.engine import clock
from shared.engine.identity import Account
from shared.engine.jobs import JobRecord, JobState
from shared.engine.outputs import signed_url
from shared.engine.settings import get_settings
from shared.schemas.images import ImageModel

DEFAULT_MODEL = ImageModel.Z_IMAGE_TURBO
DEFAULT_TIER = "basic"
STATUS_WORDS = {
    JobState.PENDING: "pending",
    JobState.QUEUED: "pending",
    JobState.CLAIMED: "claimed",
    JobState.RUNNING: "processing",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "failed",
}


class CreateJobRequest(BaseModel):
    """POST /api/v1/jobs. Unknown fields are ignored, as the document does not forbid them."""

    model_config = ConfigDict(extra="ignore")

    prompt: StrictStr
    negative_prompt: StrictStr | None = None
    model: StrictStr = str(DEFAULT_MODEL)
    tier: StrictStr = DEFAULT_TIER
    width: StrictInt | None = None
    height: StrictInt | None = None
    seed: StrictInt | None = None

    def fingerprint(self) -> str:
        """SHA-256 of the parsed request's canonical JSON: what an Idempotency-Key binds."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def result_url(job: JobRecord) -> str | None:
    if job.state is not JobState.COMPLETED or not job.outputs or job.completed_at is None:
        return None
    expires = job.completed_at + dt.timedelta(seconds=get_settings().output_url_ttl_s)
    return signed_url(job.outputs[0], expires_at=expires, now=clock.now())


def render_job(job: JobRecord) -> dict[str, Any]:
    data = job.input
    body: dict[str, Any] = {
        "id": job.id,
        "status": STATUS_WORDS[job.state],
        "prompt": data.get("prompt"),
        "negative_prompt": data.get("negative_prompt") or None,
        "model": job.model,
        "tier": job.site_fields.get("tier"),
        "width": data.get("width"),
        "height": data.get("height"),
        "steps": data.get("steps"),
        "seed": data.get("seed"),
        "result_url": result_url(job),
        "error_msg": job.error if job.state in (JobState.FAILED, JobState.CANCELLED) else None,
        "created_at": clock.iso(job.created_at),
        "started_at": clock.iso(job.started_at),
        "completed_at": clock.iso(job.completed_at),
    }
    return {k: v for k, v in body.items() if v is not None}


def render_result(job: JobRecord) -> tuple[dict[str, Any], int]:
    """GET /api/v1/jobs/{id}/result: the URL (200), or why there is none yet (202)."""
    url = result_url(job)
    if url:
        return {"result_url": url}, 200
    if job.state is JobState.COMPLETED:
        message = "Result has expired"
    elif job.terminal:
        message = f"Job failed: {job.error or 'unknown error'}"
    else:
        message = "Job is not completed yet"
    return {"status": STATUS_WORDS[job.state], "message": message}, 202


def profile(account: Account, *, credits: int) -> dict[str, Any]:
    body = {
        "id": account.id,
        "email": account.email,
        "display_name": account.display_name,
        "photo_url": account.photo_url,
        "credits": credits,
        "role": "admin" if account.is_admin else "user",
        "created_at": clock.iso(account.created_at),
        "last_login_at": clock.iso(account.last_login_at),
    }
    return {k: v for k, v in body.items() if v is not None}
