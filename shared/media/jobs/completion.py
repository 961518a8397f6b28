"""A media job's end: the handler's output checked, the bill settled, the client called back.

Registered with the engine (shared/engine/collectors.py) when this module is imported:
- `prepare(job)`: the payload a dispatch sends, signed now: every staged input as a GET URL
  and the output as a PUT URL bound to its content type, both valid for the job's lifetime
  plus a margin. Firestore only ever holds object names.
- `collect(job, output)`: the job completes only if the object the handler says it
  uploaded is in the bucket at the job's own path with the size it answered, within the
  job's cap, starting with its content type's signature bytes (and, up to FULL_CHECK_BYTES,
  with the SHA-256 it answered). A Gemini speech job captures its exact token bill (never
  more than its hold); every other job captures its hold. Anything else: ValueError, and
  the engine fails the job and releases the hold.
- `notify(job)`: a terminal job with a `completionCallbackUrl` gets exactly one delivery,
  `media-<job id>`, through the signed outbound webhooks (retries, backoff, guard, log). Its
  body is built once and kept (`media_callbacks/<job id>`, created first-writer-wins), so a
  repeated notify (the callback path and the sweep racing) enqueues the same bytes, which
  the webhook machinery treats as the same delivery. The sweep hook re-notifies terminal
  jobs whose callback is still pending (a notifier that died after the job ended).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any, Final

from pydantic import ValidationError

from shared.engine import clock, collectors, jobs, sweeps
from shared.engine.collectors import Collected
from shared.engine.errors import AppError
from shared.engine.identity import Site
from shared.engine.jobs import JobRecord
from shared.engine.outputs import bucket
from shared.engine.store import CONFLICTS, JOBS, db
from shared.media.jobs import pricing, staging, views
from shared.schemas.media import MediaHandlerOutput

log = logging.getLogger(__name__)

CALLBACKS: Final = "media_callbacks"
FULL_CHECK_BYTES: Final = 16 << 20
URL_MARGIN_S: Final = 3600
SIGNATURES: Final[dict[str, tuple[tuple[int, bytes], ...]]] = {
    "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "image/jpeg": ((0, b"\xff\xd8\xff"),),
    "image/webp": ((0, b"RIFF"), (8, b"WEBP")),
    "video/mp4": ((4, b"ftyp"),),
    "audio/ogg": ((0, b"OggS"),),
    "audio/wav": ((0, b"RIFF"), (8, b"WAVE")),
    "model/gltf-binary": ((0, b"glTF"),),
    "application/json": (),
}
SWEEP_BATCH: Final = 100


def prepare(job: JobRecord) -> dict[str, Any]:
    lifetime = max(60, int((job.timeout_at - clock.now()).total_seconds())) + URL_MARGIN_S
    stored = job.input
    output = stored["output"]
    return {
        "handler": stored["handler"],
        "task": stored["task"],
        "jobId": stored["jobId"],
        "input": staging.signed_inputs(stored["input"], expires_in_s=lifetime),
        "output": {
            "uploadUrl": staging.sign_put(
                output["object"], content_type=output["contentType"], expires_in_s=lifetime
            ),
            "contentType": output["contentType"],
            "maxBytes": output["maxBytes"],
        },
    }


def collect(job: JobRecord, output: Any) -> Collected:
    try:
        answer = MediaHandlerOutput.model_validate(output)
    except ValidationError as exc:
        raise ValueError(f"not a media handler answer ({exc.error_count()} problems)") from None
    expected = job.input["output"]
    if answer.contentType != expected["contentType"]:
        raise ValueError(
            f"answered {answer.contentType}, the job expects {expected['contentType']}"
        )
    blob = bucket().get_blob(expected["object"])
    if blob is None:
        raise ValueError("the handler uploaded no output")
    if blob.size != answer.sizeBytes or blob.size > expected["maxBytes"] or blob.size == 0:
        raise ValueError(f"output is {blob.size} bytes, the handler answered {answer.sizeBytes}")
    if blob.size <= FULL_CHECK_BYTES:
        data = blob.download_as_bytes()
        if hashlib.sha256(data).hexdigest() != answer.sha256:
            raise ValueError("output does not match the SHA-256 the handler answered")
        head = data[:64]
    else:
        head = blob.download_as_bytes(start=0, end=63)
    for offset, magic in SIGNATURES[expected["contentType"]]:
        if head[offset : offset + len(magic)] != magic:
            raise ValueError(f"output is not {expected['contentType']}")
    capture = None
    if job.model == "gemini-tts":
        capture = pricing.gemini_bill(answer.usage)
    result = answer.model_dump(exclude_none=True)
    return Collected([expected["object"]], capture, {"site_fields.result": result})


def notify(job: JobRecord) -> None:
    sf = job.site_fields
    if not sf.get("callbackUrl") or not sf.get("callbackPending"):
        return
    from shared.engine.webhooks import enqueue_delivery

    payload = _callback_body(job)
    try:
        enqueue_delivery(
            delivery_id=f"media-{job.id}",
            url=sf["callbackUrl"],
            payload=payload,
            sealed_secret=sf["callbackSecret"],
            context=job.id,
        )
    except AppError as exc:
        # A URL refused now (its DNS changed since submit), or a payload the machinery
        # refuses: the job's result stands; the delivery is not retried from here.
        log.warning("completion callback of %s not enqueued: %s", job.id, exc.message)
    from google.cloud import firestore

    jobs.update_fields(
        job.id,
        {
            "site_fields.callbackPending": False,
            "site_fields.callbackSecret": firestore.DELETE_FIELD,
        },
    )


def _callback_body(job: JobRecord) -> dict[str, Any]:
    """The one body of this job's callback: built by the first notifier, kept for the rest."""
    ref = db().collection(CALLBACKS).document(job.id)
    body = views.status(job, include_details=False)
    try:
        ref.create(
            {
                "body": body,
                "created_at": clock.now(),
                "expire_at": clock.now() + dt.timedelta(days=30),
            }
        )
    except CONFLICTS:
        snap = ref.get()
        if snap.exists:
            return dict((snap.to_dict() or {})["body"])
    return body


def sweep(now: dt.datetime) -> dict[str, int]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db()
        .collection(JOBS)
        .where(filter=FieldFilter("site_fields.callbackPending", "==", True))
        .limit(SWEEP_BATCH)
    )
    sent = 0
    for snap in query.stream():
        job = jobs.get(snap.id)
        if job.terminal:
            notify(job)
            sent += 1
    return {"callbacks": sent}


collectors.register(Site.MEDIA, collect=collect, notify=notify, prepare=prepare)
sweeps.register("media_callbacks", sweep)
