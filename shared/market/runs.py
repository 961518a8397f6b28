"""Marketplace runs: a consumer runs a published tars model; each run is one engine job.

A run is `jobs.submit` of site "market" on the RunPod endpoint (or Modal model) of the tars
model's base model, its price (the tars model's, else the base model's) held from the
consumer's one Relay balance; the engine settles it exactly once and the capture is split
creator/platform in the same batch (shared/market/split.py). Rules kept here:
- Nothing is held for a run that cannot start: the tars model must exist (ERR_5500) and be
  PUBLISHED (ERR_5501), its base model active (ERR_5509), the base model's endpoint active
  (ERR_5502), and the inputs valid (ERR_2001, shared/market/run_input.py); a consumer who
  cannot pay gets ERR_4001 and nothing is held.
- An Idempotency-Key replay answers with the first run and holds nothing more.
- A consumer sees and cancels only their own runs (ERR_5506); an id that is no market run
  is ERR_5505. A cancel first stops the run at its backend (a backend that cannot be asked:
  ERR_5002, the run stays as it is), then ends the job CANCELLED only from an active state,
  releasing the hold; a run that ended meanwhile is not cancellable (ERR_5507).
"""

from __future__ import annotations

from typing import Any

from shared.engine import jobs, ledger
from shared.engine.backends import BackendUnavailable, backend
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import ACTIVE, JobCreate, JobRecord, JobState
from shared.engine.store import JOBS, db
from shared.market import catalog, overrides, run_input, tars_models
from shared.market.errors import coded
from shared.market.records import (
    CREDIT_MICROS,
    SITE,
    BaseModelRecord,
    Endpoint,
    TarsModelRecord,
    TarsStatus,
)
from shared.market.run_views import RunStatus, states_for

CANCELLED_MESSAGE = "Cancelled by the consumer"


_error = coded


# --- lookups ---------------------------------------------------------------------------

tars_model_by_slug = tars_models.get_by_slug
base_model = catalog.get_base_model
endpoint = catalog.get_endpoint


# --- starting a run ----------------------------------------------------------------------


def runnable(slug: str) -> tuple[TarsModelRecord, BaseModelRecord, Endpoint]:
    """The tars model behind `slug` with its base model and endpoint, if it can run now."""
    tars = tars_model_by_slug(slug)
    if tars is None:
        raise _error(ErrorKind.NOT_FOUND, "ERR_5500", "Tars model not found")
    if tars.status is not TarsStatus.PUBLISHED:
        raise _error(ErrorKind.INVALID, "ERR_5501", "Model not published")
    base = base_model(tars.base_model_id)
    if base is None or not base.is_active:
        raise _error(ErrorKind.INVALID, "ERR_5509", "Base model not active")
    where = endpoint(base.endpoint_id)
    if where is None or not where.is_active:
        raise _error(ErrorKind.INVALID, "ERR_5502", "Endpoint not active")
    return tars, base, where


def submit_run(
    *, account_id: str, slug: str, inputs: dict[str, Any], idempotency_key: str | None
) -> JobRecord:
    """Validate, price and submit a run of the tars model `slug` (see the module rules)."""
    tars, base, where = runnable(slug)
    job_input = run_input.build(
        inputs=inputs,
        schema=base.input_schema,
        overrides=tars.config_overrides,
        fixed=base.fixed_input,
    )
    price_credits = overrides.effective_price(base=base, price_credits=tars.price_credits)
    price_micros = price_credits * CREDIT_MICROS
    create = JobCreate(
        account_id=account_id,
        site=SITE,
        model=base.slug,
        backend=str(where.provider),
        endpoint=where.runpod_endpoint_id,
        input=job_input,
        price_micros=price_micros,
        site_fields={
            "tars_model_id": tars.id,
            "creator_id": tars.developer_id,
            "title": tars.title,
            "slug": tars.slug,
            "base_model_id": base.id,
            "price_credits": price_credits,
            "estimated_seconds": base.estimated_seconds,
            "inputs": inputs,
        },
        idempotency_key=idempotency_key,
        request_fingerprint=run_input.fingerprint(slug=slug, inputs=inputs),
    )
    try:
        return jobs.submit(create)
    except AppError as exc:
        if exc.kind is not ErrorKind.INSUFFICIENT_FUNDS:
            raise
        available = ledger.balance(account_id).available_micros // CREDIT_MICROS
        raise _error(
            ErrorKind.INSUFFICIENT_FUNDS,
            "ERR_4001",
            "Insufficient credits",
            requiredCredits=price_credits,
            availableCredits=available,
        ) from None


# --- reading runs ------------------------------------------------------------------------


def get_run(*, account_id: str, run_id: str) -> JobRecord:
    job = jobs.find(run_id)
    if job is None or job.site != SITE:
        raise _error(ErrorKind.NOT_FOUND, "ERR_5505", "Execution not found")
    if job.account_id != account_id:
        raise _error(ErrorKind.FORBIDDEN, "ERR_5506", "Execution not owned")
    return job


def list_runs(
    *, account_id: str, status: RunStatus | None, page: int, limit: int
) -> tuple[list[JobRecord], int]:
    """The consumer's runs, newest first: one page and the total."""
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("account_id", "==", account_id))
        .where(filter=FieldFilter("site", "==", SITE))
    )
    if status is not None:
        query = query.where(filter=FieldFilter("state", "in", states_for(status)))
    total = int(query.count().get()[0][0].value)
    page_query = (
        query.order_by("created_at", direction=firestore.Query.DESCENDING)
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return [JobRecord(id=snap.id, **snap.to_dict()) for snap in page_query.stream()], total


def run_status(*, account_id: str, run_id: str, sync: bool) -> JobRecord:
    """A run for polling; with `sync`, after asking its backend (ERR_5003 when the backend
    did not answer in time, ERR_5002 when it could not be asked)."""
    job = get_run(account_id=account_id, run_id=run_id)
    if not sync:
        return job
    from shared.engine import dispatch

    try:
        return dispatch.reconcile(job, strict=True)
    except BackendUnavailable as exc:
        if exc.timed_out:
            raise _error(ErrorKind.UNAVAILABLE, "ERR_5003", "Gateway timeout") from None
        raise _error(ErrorKind.UNAVAILABLE, "ERR_5002", "Service unavailable") from None


# --- cancelling --------------------------------------------------------------------------


def _not_cancellable(job: JobRecord) -> AppError:
    message = f"Execution not cancellable: it is {str(job.state).lower()}"
    return _error(ErrorKind.INVALID, "ERR_5507", message)


def _stop_at_backend(job: JobRecord) -> None:
    """Cancel the job's run at its backend (ERR_5002 when it cannot be asked). A run that
    finished before the cancel reached it is applied as it finished (a completed run is
    charged and kept, not thrown away as cancelled): then ERR_5507."""
    from shared.engine import dispatch

    assert job.backend_job_id is not None
    where = backend(job.backend)
    try:
        where.cancel(model=job.model, backend_job_id=job.backend_job_id, endpoint=job.endpoint)
    except BackendUnavailable:
        message = "Could not cancel the run at its backend"
        raise _error(ErrorKind.UNAVAILABLE, "ERR_5002", message) from None
    try:
        outcome = where.status(
            model=job.model, backend_job_id=job.backend_job_id, endpoint=job.endpoint
        )
    except BackendUnavailable:
        return  # the cancel was accepted; the job is ended as cancelled
    if outcome.status == "COMPLETED":
        raise _not_cancellable(dispatch.apply_status(job, outcome))


def cancel_run(*, account_id: str, run_id: str) -> JobRecord:
    job = get_run(account_id=account_id, run_id=run_id)
    if job.terminal:
        raise _not_cancellable(job)
    if job.backend_job_id:
        _stop_at_backend(job)
    done = jobs.finish(job.id, state=JobState.CANCELLED, error=CANCELLED_MESSAGE, only_from=ACTIVE)
    if done.state is not JobState.CANCELLED:
        raise _not_cancellable(done)
    return done
