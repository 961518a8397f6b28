"""The media job bodies: `MediaJobSubmitResponse` and `MediaJobStatusResponse`.

- Money is shown twice, as the document has it: integer micros (`usdChargedMicros`) and a
  decimal string of dollars with six places (`usdCharged`: "0.026100"), never a float.
- `usdChargedMicros` is what the job holds while it runs, what it captured once completed
  (Gemini speech: the exact completion-time bill) and 0 once failed (released in full).
- Status words: queued (accepted, not started), running, completed, failed, cancelled.
- `downloadableOutputUrls` are V4 signed URLs valid for `output_url_ttl_s` (48 h) after
  completion, and gone (empty) after that; the bucket's lifecycle deletes outputs at 72 h.
- `includeDetails=true` adds `effectiveInput`, `inputAdjustments` and `result.upstream`:
  the handler's answer minus anything not about the output (no URLs, no internals).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.engine import clock
from shared.engine.jobs import JobRecord, JobState
from shared.engine.money import MICROS_PER_USD
from shared.engine.outputs import signed_url
from shared.engine.settings import get_settings

STATUS_WORDS = {
    JobState.PENDING: "queued",
    JobState.QUEUED: "queued",
    JobState.CLAIMED: "running",
    JobState.RUNNING: "running",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
}
UPSTREAM_KEYS = ("contentType", "sizeBytes", "sha256", "meta", "usage", "handlerSeconds")


def usd(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    whole, rest = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}{whole}.{rest:06d}"


def charged_micros(job: JobRecord) -> int:
    if job.state is JobState.COMPLETED:
        return job.captured_micros or 0
    if job.terminal:
        return 0
    return job.price_micros


def billing(job: JobRecord) -> dict[str, Any]:
    sf = job.site_fields
    micros = charged_micros(job)
    return {
        "usdChargedMicros": micros,
        "usdCharged": usd(micros),
        "pricingMeta": sf.get("pricingMeta"),
        "stagedInputCount": sf.get("stagedInputCount"),
    }


def submitted(job: JobRecord, balance_micros: int) -> dict[str, Any]:
    sf = job.site_fields
    bill = billing(job)
    return {
        "ok": True,
        "task": sf.get("task"),
        "externalJobId": job.id,
        "usdChargedMicros": bill["usdChargedMicros"],
        "usdCharged": bill["usdCharged"],
        "usdBalanceMicros": balance_micros,
        "usdBalance": usd(balance_micros),
        "pricingMeta": sf.get("pricingMeta") or {},
        "stagedInputCount": sf.get("stagedInputCount") or 0,
        "estimatedDurationSeconds": sf.get("estimatedDurationSeconds"),
        "durationEstimateMeta": sf.get("durationEstimateMeta") or {},
        "effectiveInput": sf.get("effectiveInput") or {},
        "inputAdjustments": sf.get("inputAdjustments") or [],
        "billing": bill,
        "result": {"status": STATUS_WORDS[job.state]},
    }


def _output_urls(job: JobRecord, now: dt.datetime) -> list[str]:
    if job.state is not JobState.COMPLETED or job.completed_at is None:
        return []
    expires = job.completed_at + dt.timedelta(seconds=get_settings().output_url_ttl_s)
    urls = [signed_url(path, expires_at=expires, now=now) for path in job.outputs]
    return [u for u in urls if u]


def _public_url(path: str) -> str:
    return f"https://storage.googleapis.com/{get_settings().bucket}/{path}"


def status(
    job: JobRecord, *, include_details: bool, now: dt.datetime | None = None
) -> dict[str, Any]:
    sf = job.site_fields
    now = now or clock.now()
    urls = _output_urls(job, now)
    found = sf.get("result") or {}
    output = job.input.get("output") or {}
    files = [
        {
            "url": url,
            "contentType": found.get("contentType"),
            "sizeBytes": found.get("sizeBytes"),
            "sha256": found.get("sha256"),
            **(found.get("meta") or {}),
        }
        for url in urls
    ]
    ended = job.completed_at
    result: dict[str, Any] = {"status": STATUS_WORDS[job.state]}
    if job.error:
        result["error"] = job.error
    if found:
        result["meta"] = found.get("meta") or {}
    body: dict[str, Any] = {
        "ok": job.state is not JobState.FAILED,
        "task": sf.get("task"),
        "externalJobId": job.id,
        "status": STATUS_WORDS[job.state],
        "result": result,
        "estimatedDurationSeconds": sf.get("estimatedDurationSeconds"),
        "durationEstimateMeta": sf.get("durationEstimateMeta"),
        "billing": billing(job),
        "createdAt": clock.iso(job.created_at),
        "updatedAt": clock.iso(ended or job.started_at or job.queued_at or job.created_at),
        "durationMs": (
            int((ended - job.created_at).total_seconds() * 1000) if ended is not None else None
        ),
        "outputFiles": files if files else None,
        "outputUrl": urls[0] if urls else None,
        "generatedImageIds": None,
        "expectedOutputUrls": [_public_url(output["object"])] if output.get("object") else [],
        "downloadableOutputUrls": urls,
    }
    if include_details:
        body["effectiveInput"] = sf.get("effectiveInput") or {}
        body["inputAdjustments"] = sf.get("inputAdjustments") or []
        body["result"]["upstream"] = {k: found[k] for k in UPSTREAM_KEYS if k in found}
    return body
