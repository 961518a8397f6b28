"""Running jobs on backends: dispatch, completion, reconciliation and the sweep.

Every entry point here is safe to call any number of times, concurrently: each moves the
job through shared.engine.jobs' preconditioned transitions and does nothing once the job has
moved on. A completion is trusted only with the per-job callback token (an HMAC of the
job id under the server's callback secret), sent in the `X-Relay-Callback-Token` header:
the callback URL itself carries only the job id, so request logs hold no token. RunPod's
`webhook` is a bare URL and cannot carry a header, so RunPod alone gets a URL with a token
of its own (another HMAC label), accepted only for RunPod jobs; RunPod posts it once the
run has ended, and a report for an ended job changes nothing, so a token read from a log
afterwards is spent.

What can never happen:
- A job is failed (and its hold released) because a backend could not be asked: only a
  definitive status (FAILED, CANCELLED, TIMED_OUT, NOT_FOUND) or the job's own timeout ends
  it; `BackendUnavailable` leaves it as it is.
- Two backend runs of one job are both applied: a dispatch whose /run answer was lost may
  have started a run, and its retry starts another. `backend_job_id` is written at most once
  (first writer wins: the dispatch that got an answer, or the first run to report), only the
  recorded run's report is applied, and any other run is cancelled as soon as its id is
  known (the customer pays one hold, settled once; the extra GPU time is the platform's).
- A sweep outlives its deadline or stops at one bad job: reservations are returned first,
  each overdue job is handled on its own (errors are logged and counted), backend calls are
  short and a backend that does not answer is not asked again in the same sweep, and work
  left when the budget runs out waits for the next sweep. Sites add their own sweep work
  through shared.engine.sweeps; the engine imports no site.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from typing import Any
from urllib.parse import urlencode

from shared.engine import clock, collectors, jobs, ledger, logs, sweeps, validate
from shared.engine.backends import (
    DEFINITIVE_FAILURES,
    BackendStatus,
    BackendUnavailable,
    Callback,
    backend,
)
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import ACTIVE, JobRecord, JobState
from shared.engine.logs import bind as bind_log
from shared.engine.outputs import put_output
from shared.engine.queue import task_url
from shared.engine.settings import get_settings

log = logging.getLogger(__name__)

CALLBACK_TARGET = "callback_gpu"
CALLBACK_TOKEN_HEADER = "X-Relay-Callback-Token"
# Backends whose completion webhook is a bare URL (no headers): the token rides in the URL.
URL_TOKEN_BACKENDS = frozenset({"runpod"})
SWEEP_BUDGET_S = 60.0
SWEEP_CALL_TIMEOUT_S = 3.0
# How long a dispatch task waits for a job whose submit batch has not landed yet.
UNLANDED_WAIT_S = 2.0


def callback_token(job_id: str, *, in_url: bool = False) -> str:
    """The job's callback token: the header's, or (`in_url`) the one only RunPod's URL holds."""
    key = get_settings().callback_secret.encode()
    label = "job-callback-url" if in_url else "job-callback"
    return hmac.new(key, f"{label}:{job_id}".encode(), hashlib.sha256).hexdigest()


def callback_url(job_id: str) -> str:
    """Where a backend reports the job: the job id only (the token goes in a header)."""
    return f"{task_url(CALLBACK_TARGET)}?{urlencode({'job': job_id})}"


def callback_headers(job_id: str) -> dict[str, str]:
    return {CALLBACK_TOKEN_HEADER: callback_token(job_id)}


def webhook_url(job_id: str) -> str:
    """The callback URL for a backend that cannot send headers (URL_TOKEN_BACKENDS)."""
    query = urlencode({"job": job_id, "token": callback_token(job_id, in_url=True)})
    return f"{task_url(CALLBACK_TARGET)}?{query}"


def callback(job_id: str) -> Callback:
    return Callback(
        url=callback_url(job_id), token=callback_token(job_id), url_with_token=webhook_url(job_id)
    )


def dispatch(job_id: str, *, attempt: int = 0) -> str:
    """Hand a PENDING job to its backend. Returns what happened, for the log.

    A /run that fails may still have landed (RunPod takes no idempotency key): the job goes
    back to PENDING and the task's retry submits again; `_record_run` then keeps exactly one
    run, whichever reports first, and cancels the other.
    """
    bind_log(job_id=job_id)
    job = _to_queued(job_id)
    if job is None:
        # Not PENDING when we looked: already dispatched, or not landed yet (a submit
        # creates this task while its batch commits). A job that is PENDING now landed
        # in between: dispatch it.
        current = jobs.find(job_id) or _wait_landed(job_id, attempt=attempt)
        if current is None:
            return "no such job"
        job = _to_queued(job_id) if current.state is JobState.PENDING else None
        if job is None:
            return "already dispatched"
    timeout_s = max(1, int((job.timeout_at - clock.now()).total_seconds()))
    try:
        backend_job_id = backend(job.backend).submit(
            model=job.model,
            payload=collectors.payload_for(job),
            callback=callback(job.id),
            timeout_s=timeout_s,
            endpoint=job.endpoint,
        )
    except AppError:
        if attempt + 1 >= get_settings().dispatch_max_attempts:
            collectors.notify(
                jobs.finish(job.id, state=JobState.FAILED, error="backend unavailable")
            )
            return "failed: backend unavailable"
        # Give the job back so the task's retry dispatches it (unless a run of an earlier,
        # ambiguous attempt has reported meanwhile and moved it on).
        back = jobs.transition(
            job.id,
            from_states={JobState.QUEUED},
            to_state=JobState.PENDING,
            require=lambda j: j.backend_job_id is None,
            label="jobs.dispatch",
        )
        if back is None:
            return "dispatched by an earlier attempt"
        raise
    kept = _record_run(job, backend_job_id)
    if kept.backend_job_id != backend_job_id:
        return f"extra run {backend_job_id} cancelled; the job runs as {kept.backend_job_id}"
    return f"dispatched as {backend_job_id}"


def _to_queued(job_id: str) -> JobRecord | None:
    return jobs.transition(
        job_id,
        from_states={JobState.PENDING},
        to_state=JobState.QUEUED,
        fields={"queued_at": clock.now()},
        label="jobs.dispatch",
    )


def _wait_landed(job_id: str, *, attempt: int) -> JobRecord | None:
    """The job a dispatch task found missing, once it lands; None if it never will.

    A submit creates the task once the price is reserved under the job's id, while the
    batch that creates the job (and spends that reservation) commits (jobs.submit). So
    while `reservations/<job id>` exists the job may still land: wait for it, and past the
    wait let the task's retry look again (503). With no reservation, the batch has landed
    (the job is found now) or never will."""
    deadline = time.monotonic() + UNLANDED_WAIT_S
    while ledger.is_reserved(job_id):
        if time.monotonic() > deadline:
            if attempt + 1 >= get_settings().dispatch_max_attempts:
                return None
            raise AppError(ErrorKind.UNAVAILABLE, "job not landed yet, retry")
        time.sleep(0.02)
    return jobs.find(job_id)


def _record_run(job: JobRecord, backend_job_id: str) -> JobRecord:
    """Record `backend_job_id` as the job's run unless another run was recorded first (or the
    job has ended): then cancel this one. Returns the job as it now stands."""
    recorded = jobs.transition(
        job.id,
        from_states=ACTIVE,
        fields={"backend_job_id": backend_job_id},
        require=lambda j: j.backend_job_id is None,
        label="jobs.dispatch",
    )
    current = recorded or jobs.get(job.id)
    if current.backend_job_id != backend_job_id:
        _cancel_quietly(current, backend_job_id)
    return current


def _cancel_quietly(job: JobRecord, backend_job_id: str, timeout_s: float = 5.0) -> bool:
    try:
        backend(job.backend).cancel(
            model=job.model,
            backend_job_id=backend_job_id,
            timeout_s=timeout_s,
            endpoint=job.endpoint,
        )
    except AppError:
        log.warning("could not cancel run %s of job %s at %s", backend_job_id, job.id, job.backend)
        return False
    return True


def handle_callback(
    *, job_id: str, token: str, body: dict[str, Any], in_url: bool = False
) -> JobRecord:
    """Apply a backend's completion report (RunPod webhook shape). A report from a run that
    is not the job's recorded run is ignored (and that run cancelled); the first run to
    report for a job whose dispatch never learnt its run id becomes the recorded one.
    `in_url`: the token came in the URL, which only a URL_TOKEN_BACKENDS job may use."""
    expected = callback_token(job_id, in_url=in_url)
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise AppError(ErrorKind.UNAUTHENTICATED, "bad callback token")
    job = jobs.get(job_id)
    if in_url and job.backend not in URL_TOKEN_BACKENDS:
        raise AppError(ErrorKind.UNAUTHENTICATED, "bad callback token")
    bind_log(job_id=job.id, account_id=job.account_id)
    _log_report(job, body)
    reported = str(body.get("id") or "")
    if reported and job.backend_job_id != reported:
        if job.backend_job_id is None and not job.terminal:
            job = _record_run(job, reported)
        elif job.backend_job_id != reported:
            _cancel_quietly(job, reported)
        if job.backend_job_id != reported:
            log.warning("ignored a report of run %s for job %s", reported, job.id)
            return job
    status = BackendStatus(
        status=str(body.get("status", "")), output=body.get("output"), error=body.get("error")
    )
    return apply_status(job, status)


def _log_report(job: JobRecord, body: dict[str, Any]) -> None:
    """One line per backend report, with the backend's own timings where it gives them
    (RunPod: `delayTime`, queued until a worker took the run; `executionTime`, the run on
    the worker), so a job's life can be split into its steps from the logs alone."""
    timings = {
        field: value
        for field, key in (
            ("backend_delay_ms", "delayTime"),
            ("backend_execution_ms", "executionTime"),
        )
        if isinstance(value := body.get(key), int) and not isinstance(value, bool)
    }
    logs.info(
        f"backend report for job {job.id}: {str(body.get('status', ''))[:32]}",
        backend=job.backend,
        **timings,
    )


def apply_status(job: JobRecord, status: BackendStatus) -> JobRecord:
    if job.terminal:
        return job
    after = _apply(job, status)
    if after.terminal:
        collectors.notify(after)
    return after


def _apply(job: JobRecord, status: BackendStatus) -> JobRecord:
    if status.status == "COMPLETED":
        error = status.output.get("error") if isinstance(status.output, dict) else None
        if error:
            return jobs.finish(job.id, state=JobState.FAILED, error=str(error)[:500])
        collect = collectors.collector_for(str(job.site)) or _store_png
        try:
            collected = collect(job, status.output)
        except ValueError as exc:
            return jobs.finish(job.id, state=JobState.FAILED, error=f"bad output: {exc}"[:500])
        return jobs.finish(
            job.id,
            state=JobState.COMPLETED,
            outputs=collected.outputs,
            capture_micros=collected.capture_micros,
            fields=collected.fields or None,
        )
    if status.status in DEFINITIVE_FAILURES:
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
            return str(validate.loads_json(error.encode()).get("error_message") or error)
        except (AppError, AttributeError):
            return error
    return str(error) if error else None


def _store_png(job: JobRecord, output: Any) -> collectors.Collected:
    """The image handlers' answer (one base64 PNG), for sites without a collector."""
    if not isinstance(output, dict) or not isinstance(output.get("image_png_b64"), str):
        raise ValueError("expected image_png_b64")
    try:
        data = base64.b64decode(output["image_png_b64"], validate=True)
    except binascii.Error as exc:
        raise ValueError("image is not base64") from exc
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("image is not a PNG")
    return collectors.Collected(
        [put_output(job_id=job.id, index=0, data=data, content_type="image/png")]
    )


def reconcile(job: JobRecord, *, timeout_s: float | None = None, strict: bool = False) -> JobRecord:
    """Ask the backend where a dispatched job is (a lost webhook must not lose a job). A
    backend that cannot be asked leaves the job as it is (and, when `strict`, raises its
    BackendUnavailable, for a client that asked for the backend's word)."""
    if job.terminal or not job.backend_job_id:
        return job
    options = {} if timeout_s is None else {"timeout_s": timeout_s}
    try:
        status = backend(job.backend).status(
            model=job.model, backend_job_id=job.backend_job_id, endpoint=job.endpoint, **options
        )
    except BackendUnavailable as exc:
        log.info("job %s: %s", job.id, exc.message)
        if strict:
            raise
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


def sweep(*, budget_s: float = SWEEP_BUDGET_S) -> dict[str, int]:
    """Money first: return reservations whose request died, then fail jobs past their
    timeout (after asking their backend) releasing their holds, then run each site's hook
    (`shared.engine.sweeps`). Stops starting work when `budget_s` is spent; counts errors."""
    deadline = time.monotonic() + budget_s
    now = clock.now()
    counts = {"reservations": 0, "timed_out": 0, "settled_late": 0, "deferred": 0, "errors": 0}
    try:
        counts["reservations"] = ledger.expire_reservations()
    except Exception:  # isolation boundary: logged with its traceback and counted
        log.exception("sweep: returning stale reservations failed")
        counts["errors"] += 1
    unreachable: set[str] = set()  # backends that did not answer in this sweep
    for job in jobs.overdue(now=now):
        if time.monotonic() >= deadline:
            counts["deferred"] += 1
            continue
        try:
            outcome = _expire(job, deadline=deadline, unreachable=unreachable)
            counts[outcome] = counts.get(outcome, 0) + 1
        except Exception:  # isolation boundary: logged with its traceback and counted
            log.exception("sweep: job %s failed to expire", job.id)
            counts["errors"] += 1
    for name, hook in sweeps.registered().items():
        if time.monotonic() >= deadline:
            counts["deferred"] += 1
            continue
        try:
            counts.update({f"{name}_{k}": int(v) for k, v in hook(now).items()})
        except Exception:  # isolation boundary: logged with its traceback and counted
            log.exception("sweep: hook %s failed", name)
            counts["errors"] += 1
    return counts


def _expire(job: JobRecord, *, deadline: float, unreachable: set[str]) -> str:
    """Settle one overdue job: its backend's definitive answer if it has one, else FAILED
    ("timed out") with its hold released and its run cancelled."""
    if sweeps.is_pull_backend(job.backend) and job.state in (JobState.CLAIMED, JobState.RUNNING):
        return "left_to_site"  # a worker's lapsed claim is its site's hook to requeue
    run_id = job.backend_job_id
    if run_id and job.backend not in unreachable:
        timeout = max(0.5, min(SWEEP_CALL_TIMEOUT_S, deadline - time.monotonic()))
        try:
            status = backend(job.backend).status(
                model=job.model, backend_job_id=run_id, timeout_s=timeout, endpoint=job.endpoint
            )
        except BackendUnavailable:
            unreachable.add(job.backend)
        else:
            job = apply_status(job, status)
            if job.terminal:
                return "settled_late"
        if job.backend not in unreachable and not _cancel_quietly(job, run_id, timeout_s=timeout):
            unreachable.add(job.backend)
    collectors.notify(jobs.finish(job.id, state=JobState.FAILED, error="timed out"))
    return "timed_out"
