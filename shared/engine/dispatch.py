"""Running jobs on backends: dispatch, completion, reconciliation and the sweep.

Every entry point here is safe to call any number of times, concurrently: each moves the
job through shared.engine.jobs' preconditioned transitions and does nothing once the job has
moved on. A completion is trusted only with the per-job callback token (an HMAC of the
job id under the server's callback secret), and only for the backend job we started.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import urlencode

from shared.engine import clock, jobs, ledger
from shared.engine.backends import BackendStatus, backend
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobRecord, JobState
from shared.engine.logs import bind as bind_log
from shared.engine.outputs import put_output
from shared.engine.queue import task_url
from shared.engine.settings import get_settings

log = logging.getLogger(__name__)

CALLBACK_TARGET = "callback_gpu"
FAILED_STATUSES = frozenset({"FAILED", "CANCELLED", "TIMED_OUT"})


def callback_token(job_id: str) -> str:
    key = get_settings().callback_secret.encode()
    return hmac.new(key, f"job-callback:{job_id}".encode(), hashlib.sha256).hexdigest()


def callback_url(job_id: str) -> str:
    query = urlencode({"job": job_id, "token": callback_token(job_id)})
    return f"{task_url(CALLBACK_TARGET)}?{query}"


def dispatch(job_id: str, *, attempt: int = 0) -> str:
    """Hand a PENDING job to its backend, once. Returns what happened, for the log."""
    bind_log(job_id=job_id)
    job = jobs.transition(
        job_id,
        from_states={JobState.PENDING},
        to_state=JobState.QUEUED,
        fields={"queued_at": clock.now()},
    )
    if job is None:
        return "already dispatched"
    timeout_s = max(1, int((job.timeout_at - clock.now()).total_seconds()))
    try:
        backend_job_id = backend(job.backend).submit(
            model=job.model,
            payload=job.input,
            callback_url=callback_url(job.id),
            timeout_s=timeout_s,
        )
    except AppError:
        if attempt + 1 >= get_settings().dispatch_max_attempts:
            jobs.finish(job.id, state=JobState.FAILED, error="backend unavailable")
            return "failed: backend unavailable"
        # Give the job back so the task's retry dispatches it.
        jobs.transition(job.id, from_states={JobState.QUEUED}, to_state=JobState.PENDING)
        raise
    jobs.update_fields(job.id, {"backend_job_id": backend_job_id})
    return f"dispatched as {backend_job_id}"


def handle_callback(*, job_id: str, token: str, body: dict[str, Any]) -> JobRecord:
    """Apply a backend's completion report (RunPod webhook shape)."""
    if not hmac.compare_digest(token.encode(), callback_token(job_id).encode()):
        raise AppError(ErrorKind.UNAUTHENTICATED, "bad callback token")
    job = jobs.get(job_id)
    reported = body.get("id")
    if job.backend_job_id and reported and str(reported) != job.backend_job_id:
        raise AppError(ErrorKind.CONFLICT, "callback is for another backend job")
    status = BackendStatus(
        status=str(body.get("status", "")), output=body.get("output"), error=body.get("error")
    )
    return apply_status(job, status)


def apply_status(job: JobRecord, status: BackendStatus) -> JobRecord:
    if job.terminal:
        return job
    if status.status == "COMPLETED":
        error = status.output.get("error") if isinstance(status.output, dict) else None
        if error:
            return jobs.finish(job.id, state=JobState.FAILED, error=str(error)[:500])
        try:
            outputs = _store_outputs(job, status.output)
        except ValueError as exc:
            return jobs.finish(job.id, state=JobState.FAILED, error=f"bad output: {exc}")
        return jobs.finish(job.id, state=JobState.COMPLETED, outputs=outputs)
    if status.status in FAILED_STATUSES:
        reason = _error_message(status.error) or status.status.lower().replace("_", " ")
        return jobs.finish(job.id, state=JobState.FAILED, error=str(reason)[:500])
    if status.status == "IN_PROGRESS" and job.state is JobState.QUEUED:
        moved = jobs.transition(
            job.id,
            from_states={JobState.QUEUED},
            to_state=JobState.RUNNING,
            fields={"started_at": clock.now()},
        )
        return moved or jobs.get(job.id)
    return job


def _error_message(error: Any) -> str | None:
    """The runpod SDK reports a raised exception as a JSON string; keep its message."""
    if isinstance(error, str) and error.startswith("{"):
        try:
            return str(json.loads(error).get("error_message") or error)
        except (ValueError, AttributeError):
            return error
    return str(error) if error else None


def _store_outputs(job: JobRecord, output: Any) -> list[str]:
    if not isinstance(output, dict) or not isinstance(output.get("image_png_b64"), str):
        raise ValueError("expected image_png_b64")
    try:
        data = base64.b64decode(output["image_png_b64"], validate=True)
    except binascii.Error as exc:
        raise ValueError("image is not base64") from exc
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("image is not a PNG")
    return [put_output(job_id=job.id, index=0, data=data, content_type="image/png")]


def reconcile(job: JobRecord) -> JobRecord:
    """Ask the backend where a dispatched job is (a lost webhook must not lose a job)."""
    if job.terminal or not job.backend_job_id:
        return job
    try:
        status = backend(job.backend).status(model=job.model, backend_job_id=job.backend_job_id)
    except AppError:
        return job
    return apply_status(job, status)


_last_reconcile: dict[str, float] = {}


def reconcile_at_most_every(job: JobRecord, *, seconds: float) -> JobRecord:
    """`reconcile`, throttled per job within this process, for endpoints clients poll."""
    now = time.monotonic()
    if now - _last_reconcile.get(job.id, 0.0) < seconds:
        return job
    if len(_last_reconcile) > 10_000:
        _last_reconcile.clear()
    _last_reconcile[job.id] = now
    return reconcile(job)


def sweep() -> dict[str, int]:
    """Fail jobs past their timeout (after asking their backend), release their holds,
    requeue grid jobs whose worker went silent or ran too long, queue grid jobs whose
    quota day has reset, and return money from reservations whose request died."""
    from shared.grid.jobs import release_quota_held
    from shared.grid.work import sweep_grid

    now = clock.now()
    grid = sweep_grid(now=now)  # grid claims are requeued, not failed, when they lapse
    timed_out = settled_late = 0
    for job in jobs.overdue(now=now):
        if job.backend == "grid" and job.state in (JobState.CLAIMED, JobState.RUNNING):
            continue
        job = reconcile(job)
        if job.terminal:
            settled_late += 1
            continue
        if job.backend_job_id:
            try:
                backend(job.backend).cancel(model=job.model, backend_job_id=job.backend_job_id)
            except AppError:
                log.warning("could not cancel %s at %s", job.id, job.backend)
        jobs.finish(job.id, state=JobState.FAILED, error="timed out")
        timed_out += 1
    returned = ledger.expire_reservations()
    released = release_quota_held(now=now)
    return {
        "timed_out": timed_out,
        "settled_late": settled_late,
        "reservations": returned,
        "grid_requeued": grid["requeued"],
        "grid_quota_released": released,
    }
