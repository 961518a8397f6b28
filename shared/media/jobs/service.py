"""Killa Tamata media jobs: submit (parse, stage, price, hold, enqueue) and status.

What can never happen:
- A bad request is billed or leaves a job: parsing, the callback URL's guard, staging
  (fetch, size caps, content checks) and probing all finish before `jobs.submit` reserves
  any money; an error on the way is a 4xx with nothing held.
- One `idempotencyKey` bills twice: a replay is answered from the first job before
  anything is staged; racing first submits meet in the engine's idempotent submit (one job,
  one hold); the same key with another body is a 409.
- A job runs on inputs nobody checked or at a price nobody showed: the stored input names
  the staged objects, the price is the quote `pricingMeta` shows, and the job holds it.
- Another account reads a job: status answers 404 for any job that is not the caller's.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from fractions import Fraction
from typing import Any

from shared.engine import idempotency, jobs, ledger
from shared.engine.dispatch import reconcile_at_most_every
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import Site
from shared.engine.jobs import JobCreate, JobRecord
from shared.engine.netguard import check_url
from shared.engine.settings import get_settings
from shared.engine.webhook_signing import seal
from shared.media.jobs import estimates, pricing, routing, staging, views
from shared.media.jobs.request import (
    AudioAnnotationRequest,
    MediaJobRequestModel,
    VideoResizeRequest,
    parse_request,
)

RECONCILE_EVERY_S = 2.0
# Signed URLs a handler receives outlive the job by this much (a run that starts at the
# last moment can still read its inputs and upload its output).
URL_MARGIN_S = 3600


def submit(*, account_id: str, api_key: str | None, body: object) -> dict[str, Any]:
    request = parse_request(body)
    callback_secret = _callback_secret(request, api_key)
    fingerprint = _fingerprint(body)
    key = request.idempotency_key
    if key is not None:
        idempotency.validate_key(key)
        first = idempotency.lookup(account_id=account_id, key=key, fingerprint=fingerprint)
        if first is not None:
            return views.submitted(jobs.get(first), ledger.balance(account_id).available_micros)
    job_id = str(uuid.uuid4())
    staged = staging.stage_all(request.inputs(), staging_id=job_id)
    quote = pricing.quote(request, _probed(request, staged))
    handler = routing.handler_for(request)
    content_type = routing.content_type_for(request)
    stored_input = {
        "handler": handler,
        "task": request.task,
        "jobId": job_id,
        "input": _with_staged(request.effective_input(), staged),
        "output": {
            "object": f"outputs/{job_id}/0.{_extension(content_type)}",
            "contentType": content_type,
            "maxBytes": routing.max_output_bytes(content_type),
        },
    }
    estimate, estimate_meta = estimates.estimate(request.task, quote)
    site_fields = {
        "task": request.task,
        "handler": handler,
        "effectiveInput": request.effective_input(),
        "inputAdjustments": [a.model_dump(exclude_none=True) for a in request.input_adjustments],
        "pricingMeta": quote.meta,
        "stagedInputCount": len(staged),
        "estimatedDurationSeconds": estimate,
        "durationEstimateMeta": estimate_meta,
    }
    if request.completion_callback_url is not None:
        site_fields |= {
            "callbackUrl": str(request.completion_callback_url),
            "callbackSecret": seal(callback_secret or "", context=job_id),
            "callbackPending": True,
        }
    job = jobs.submit(
        JobCreate(
            account_id=account_id,
            site=Site.MEDIA,
            model=handler,
            backend=routing.backend_for(handler),
            input=stored_input,
            price_micros=quote.micros,
            site_fields=site_fields,
            idempotency_key=key,
            request_fingerprint=fingerprint,
            timeout_s=routing.TIMEOUTS[request.task],
        ),
        job_id=job_id,
    )
    return views.submitted(job, ledger.balance(account_id).available_micros)


def status(*, account_id: str, job_id: str, include_details: bool) -> dict[str, Any]:
    job = _own_job(account_id, job_id)
    if job.state not in jobs.TERMINAL:
        job = reconcile_at_most_every(job, seconds=RECONCILE_EVERY_S)
    return views.status(job, include_details=include_details)


def _own_job(account_id: str, raw_id: str) -> JobRecord:
    try:
        job_id = str(uuid.UUID(raw_id))
    except ValueError:
        raise AppError(ErrorKind.NOT_FOUND, "media job not found") from None
    job = jobs.find(job_id)
    if job is None or job.site != Site.MEDIA or job.account_id != account_id:
        raise AppError(ErrorKind.NOT_FOUND, "media job not found")
    return job


def _callback_secret(request: MediaJobRequestModel, api_key: str | None) -> str | None:
    """The client's key, sealed for the job, to sign its completion callback with; the
    callback URL must pass the outbound guard now, not only when the job ends."""
    url = request.completion_callback_url
    if url is None:
        return None
    check_url(
        str(url),
        allow_private=get_settings().allow_private_webhooks,
        label="completionCallbackUrl",
    )
    if api_key is None:
        raise AppError(
            ErrorKind.INVALID,
            "completionCallbackUrl needs an API key (callbacks are signed with it)",
        )
    return api_key  # sealed for the job id by `submit`


def _fingerprint(body: object) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _probed(request: MediaJobRequestModel, staged: list[staging.Staged]) -> pricing.Probed | None:
    if not isinstance(request, VideoResizeRequest | AudioAnnotationRequest) or not staged:
        return None
    found = staged[0]
    fps = int(found.fps) if found.fps else None
    duration: Fraction | None = found.duration_seconds
    return pricing.Probed(duration_seconds=duration, frames=found.frames, fps=fps)


def _with_staged(effective: dict[str, Any], staged: list[staging.Staged]) -> dict[str, Any]:
    """The effective input with each media slot (`x`, `xs[2]`) naming its staged object."""
    out = json.loads(json.dumps(effective))
    for item in staged:
        name, _, index = item.slot.partition("[")
        if index:
            out[name][int(index.rstrip("]"))] = item.reference()
        else:
            out[name] = item.reference()
    return out


def _extension(content_type: str) -> str:
    from shared.engine.outputs import EXTENSIONS

    return EXTENSIONS[content_type]
