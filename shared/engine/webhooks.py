"""Signed outbound webhooks, delivered by Cloud Tasks with retries and backoff.

What can never happen:
- A receiver gets a body other than the bytes `enqueue_delivery` serialised, or a
  signature over anything else: the body is serialised once, carried base64 in the task,
  checked against the SHA-256 on the delivery record, and every retry signs those bytes
  (`sha256=<hex>` HMAC-SHA256 under the client's API key, in `X-Vibe-Signature`).
- A delivery is sent twice at once, or again once `delivered` or `gave_up`: each attempt
  first claims its record (`webhook_deliveries/<id>`) by a write preconditioned on the
  record's update time, so duplicate tasks race there and exactly one sends; the claim is
  a lease, so a sender that died is taken over once the lease ends.
- A task makes Relay sign for a URL or body the delivery did not record: the record holds
  the URL, the seal context and the body's hash, and the task is checked against it.
- The client's key rests anywhere in plaintext: it travels sealed (AES-256-GCM under a
  key derived from the server's webhook key, bound to the job as associated data) in the
  task payload only, never in Firestore or a log line, and is gone with the last task.
  Signing and sealing live in `webhook_signing` (re-exported here).
- A URL that netguard refuses is called: it is checked at enqueue and before each send.
More than MAX_ATTEMPTS sends never happen; the waits between them grow exponentially.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.netguard import check_url, guarded_post
from shared.engine.queue import Target, enqueue
from shared.engine.settings import get_settings
from shared.engine.store import CONFLICTS, WEBHOOK_DELIVERIES, db
from shared.engine.validate import DocId
from shared.engine.webhook_signing import SIGNATURE_HEADER as SIGNATURE_HEADER
from shared.engine.webhook_signing import Sealer as Sealer
from shared.engine.webhook_signing import seal as seal
from shared.engine.webhook_signing import sign as sign
from shared.engine.webhook_signing import unseal as unseal
from shared.engine.webhook_signing import verify as verify
from shared.engine.webhook_signing import verify_headers as verify_headers

log = logging.getLogger(__name__)

DELIVER_TARGET = Target.DELIVER_WEBHOOK
DELIVERY_HEADER = "X-Relay-Delivery"
ATTEMPT_HEADER = "X-Relay-Attempt"
USER_AGENT = "Relay-Webhooks/1.0"

MAX_ATTEMPTS = 8
BACKOFF_BASE = dt.timedelta(seconds=2)
BACKOFF_FACTOR = 4
BACKOFF_CAP = dt.timedelta(hours=1)
SEND_TIMEOUT_S = 10.0
# Longer than any one send can take (connect + read, a few addresses), shorter than a retry.
LEASE = dt.timedelta(seconds=60)
# A scheduled task may arrive this much before the time it was scheduled for.
EARLY_TOLERANCE = dt.timedelta(milliseconds=500)
MAX_BODY_BYTES = 512 * 1024  # a Cloud Task holds 1 MB; base64 adds a third
RECORD_TTL = dt.timedelta(days=30)
MAX_CLAIM_TRIES = 10
RETRYABLE_CODES = frozenset({408, 429})


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"


FINAL = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.GAVE_UP})


class DeliveryRecord(BaseModel):
    id: str
    url: str
    context: str
    signature_header: str = SIGNATURE_HEADER
    body_sha256: str
    status: DeliveryStatus
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: dt.datetime | None = None
    lease_until: dt.datetime | None = None
    created_at: dt.datetime
    finished_at: dt.datetime | None = None
    expire_at: dt.datetime


class DeliveryTask(BaseModel):
    """The Cloud Task payload. `sealed_secret` is opaque: sealed, never plaintext."""

    delivery_id: DocId
    body_b64: str
    sealed_secret: str


# -- delivery records --------------------------------------------------------------------


def _ref(delivery_id: str) -> Any:
    return db().collection(WEBHOOK_DELIVERIES).document(delivery_id)


def _record(snap: Any) -> DeliveryRecord:
    return DeliveryRecord(id=snap.id, **snap.to_dict())


def get_delivery(delivery_id: str) -> DeliveryRecord | None:
    snap = _ref(delivery_id).get()
    return _record(snap) if snap.exists else None


def _allow_private(override: bool | None) -> bool:
    return get_settings().allow_private_webhooks if override is None else override


def serialise(payload: dict[str, Any]) -> bytes:
    """The one serialisation of a webhook body; what is signed is exactly these bytes."""
    return json.dumps(payload, separators=(",", ":")).encode()


def enqueue_delivery(
    *,
    delivery_id: str,
    url: str,
    payload: dict[str, Any],
    sealed_secret: str,
    context: str | None = None,
    signature_header: str = SIGNATURE_HEADER,
    allow_private: bool | None = None,
) -> None:
    """Record a delivery and enqueue its first attempt (task `webhook-<delivery_id>`).

    `sealed_secret` was sealed for `context` (default: the delivery id; normally the job
    id). Refuses a URL netguard refuses, a body over MAX_BODY_BYTES and a sealed secret
    that does not open for the context, all as AppError(INVALID). Enqueueing the same
    delivery again is a no-op once it is final and a re-send of its task before that.
    """
    context = context or delivery_id
    check_url(url, allow_private=_allow_private(allow_private))
    body = serialise(payload)
    if len(body) > MAX_BODY_BYTES:
        raise AppError(ErrorKind.INVALID, "webhook payload is too large")
    unseal(sealed_secret, context=context)  # a sealing mistake surfaces here, not later
    digest = hashlib.sha256(body).hexdigest()
    now = clock.now()
    record = DeliveryRecord(
        id=delivery_id,
        url=url,
        context=context,
        signature_header=signature_header,
        body_sha256=digest,
        status=DeliveryStatus.PENDING,
        created_at=now,
        expire_at=now + RECORD_TTL,
    )
    try:
        _ref(delivery_id).create(record.model_dump(mode="python", exclude={"id"}))
    except CONFLICTS:
        existing = get_delivery(delivery_id)
        if existing is None:
            raise AppError(ErrorKind.UNAVAILABLE, "webhook delivery is busy, retry") from None
        if existing.body_sha256 != digest or existing.url != url:
            raise AppError(
                ErrorKind.CONFLICT, "webhook delivery id reused for another payload"
            ) from None
        if existing.status in FINAL:
            return
    task = DeliveryTask(
        delivery_id=delivery_id,
        body_b64=base64.b64encode(body).decode(),
        sealed_secret=sealed_secret,
    )
    enqueue(DELIVER_TARGET, task.model_dump(), name=f"webhook-{delivery_id}")


# -- delivery ----------------------------------------------------------------------------


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed send: 2 s, 8 s, 32 s, ... capped at 1 h."""
    exponent = min(max(0, attempts - 1), 16)  # 4**16 x 2 s is far past the cap already
    return min(BACKOFF_CAP, BACKOFF_BASE * BACKOFF_FACTOR**exponent)


def deliver(task: dict[str, Any], attempt: int = 0, *, allow_private: bool | None = None) -> str:
    """One Cloud Task run: send the delivery once if it is due and nobody else is sending.

    Returns what happened (for the task's 2xx answer). A failure worth retrying raises
    AppError(UNAVAILABLE), so Cloud Tasks retries with the queue's backoff; a retry that
    arrives before our own backoff is due (the emulator retries at once) schedules a task
    for the due time and returns. `attempt` is Cloud Tasks' retry count of this task, for
    the log only: the record, not the task, counts sends.
    """
    parsed = DeliveryTask.model_validate(task)
    body = _decode_body(parsed.body_b64)
    claimed = _claim(parsed, body)
    if isinstance(claimed, str):
        log.info("webhook %s (task try %d): %s", parsed.delivery_id, attempt, claimed)
        return claimed
    record = claimed
    try:
        secret = unseal(parsed.sealed_secret, context=record.context)
    except AppError as exc:
        return _finish(record, DeliveryStatus.GAVE_UP, error=exc.message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        record.signature_header: sign(body, secret),
        DELIVERY_HEADER: record.id,
        ATTEMPT_HEADER: str(record.attempts),
    }
    try:
        response = guarded_post(
            record.url,
            body=body,
            headers=headers,
            timeout=SEND_TIMEOUT_S,
            allow_private=_allow_private(allow_private),
        )
    except AppError as exc:
        if exc.kind is ErrorKind.INVALID and exc.details.get("reason") != "dns":
            return _finish(record, DeliveryStatus.GAVE_UP, error=exc.message)
        return _retry_or_give_up(record, status_code=None, error=exc.message)
    code = response.status_code
    if 200 <= code < 300:
        return _finish(record, DeliveryStatus.DELIVERED, status_code=code)
    if code >= 500 or code in RETRYABLE_CODES:
        return _retry_or_give_up(
            record,
            status_code=code,
            error=f"receiver answered {code}",
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    reason = "redirect not followed" if 300 <= code < 400 else f"receiver answered {code}"
    return _finish(record, DeliveryStatus.GAVE_UP, status_code=code, error=reason)


def _decode_body(body_b64: str) -> bytes:
    try:
        return base64.b64decode(body_b64.encode(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AppError(ErrorKind.INVALID, "webhook task body is not base64") from exc


def _claim(task: DeliveryTask, body: bytes) -> DeliveryRecord | str:
    """Take the delivery's lease for one send, or say why not (an outcome string)."""
    from google.cloud import firestore

    for _ in range(MAX_CLAIM_TRIES):
        snap = _ref(task.delivery_id).get()
        if not snap.exists:
            return "unknown delivery"
        record = _record(snap)
        if record.status in FINAL:
            return f"already {record.status}"
        if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), record.body_sha256):
            log.error("webhook %s: task body does not match its record", record.id)
            return "task does not match its delivery"
        now = clock.now()
        if (
            record.status is DeliveryStatus.SENDING
            and record.lease_until
            and now < record.lease_until
        ):
            _schedule(task, at=record.lease_until, name=f"webhook-{record.id}-{record.attempts}-w")
            return "in flight"
        due = record.next_attempt_at
        if record.status is DeliveryStatus.RETRYING and due and now < due - EARLY_TOLERANCE:
            _schedule(task, at=due, name=f"webhook-{record.id}-{record.attempts}")
            return "scheduled"
        if record.attempts >= MAX_ATTEMPTS:
            return _finish(record, DeliveryStatus.GAVE_UP, error=record.last_error)
        update = {
            "status": str(DeliveryStatus.SENDING),
            "attempts": record.attempts + 1,
            "lease_until": now + LEASE,
        }
        try:
            _ref(record.id).update(
                update, option=firestore.Client.write_option(last_update_time=snap.update_time)
            )
        except CONFLICTS:
            continue
        return record.model_copy(update={**update, "status": DeliveryStatus.SENDING})
    raise AppError(ErrorKind.UNAVAILABLE, "webhook delivery is busy, retry")


def _schedule(task: DeliveryTask, *, at: dt.datetime, name: str) -> None:
    delay = max(dt.timedelta(0), at - clock.now()) + dt.timedelta(milliseconds=100)
    enqueue(DELIVER_TARGET, task.model_dump(), name=name, delay=delay)


def _retry_after(raw: str | None) -> dt.timedelta | None:
    if raw and raw.strip().isdigit():
        return min(BACKOFF_CAP, dt.timedelta(seconds=int(raw.strip())))
    return None


def _retry_or_give_up(
    record: DeliveryRecord,
    *,
    status_code: int | None,
    error: str,
    retry_after: dt.timedelta | None = None,
) -> str:
    if record.attempts >= MAX_ATTEMPTS:
        return _finish(record, DeliveryStatus.GAVE_UP, status_code=status_code, error=error)
    delay = max(retry_delay(record.attempts), retry_after or dt.timedelta(0))
    next_at = clock.now() + delay
    _ref(record.id).update(
        {
            "status": str(DeliveryStatus.RETRYING),
            "last_status_code": status_code,
            "last_error": error,
            "next_attempt_at": next_at,
            "lease_until": None,
        }
    )
    log.info("webhook %s attempt %d: %s; next at %s", record.id, record.attempts, error, next_at)
    raise AppError(
        ErrorKind.UNAVAILABLE,
        f"webhook not delivered ({error}); retrying",
        {"delivery_id": record.id, "next_attempt_at": clock.iso(next_at)},
    )


def _finish(
    record: DeliveryRecord,
    status: DeliveryStatus,
    *,
    status_code: int | None = None,
    error: str | None = None,
) -> str:
    update: dict[str, Any] = {
        "status": str(status),
        "last_error": error,
        "next_attempt_at": None,
        "lease_until": None,
        "finished_at": clock.now(),
    }
    if status_code is not None:
        update["last_status_code"] = status_code
    _ref(record.id).update(update)
    outcome = "delivered" if status is DeliveryStatus.DELIVERED else "gave up"
    log.info("webhook %s after %d attempt(s): %s", record.id, record.attempts, outcome)
    return outcome
