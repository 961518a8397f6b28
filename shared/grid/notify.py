"""The client's webhook for a grid job: one delivery per run's terminal state.

The payload is the job's public body (`views.job`, equal to `GET /jobs/{id}`), signed with
the client's API key, which lives with the job only sealed for the job's id. A delivery's
id is `<job>:run<n>`, so a retried job's next terminal state is a new delivery, and a
repeat of the same run's is a no-op.
"""

from __future__ import annotations

import logging

from shared.engine import jobs
from shared.engine.errors import AppError
from shared.engine.jobs import JobRecord, JobState
from shared.grid import fields, views
from shared.grid.fields import path

log = logging.getLogger(__name__)


def notify(job: JobRecord) -> None:
    """Enqueue the client's webhook for this run's terminal state. The sealed signing key
    stays with a FAILED job (a retry reaches another terminal state and is sent again)
    and is dropped once the job is COMPLETED."""
    sf = fields.of(job)
    if not sf.webhook_url or not sf.webhook_secret:
        return
    from shared.engine.webhooks import enqueue_delivery

    try:
        enqueue_delivery(
            delivery_id=f"{job.id}:run{sf.runs}",
            url=sf.webhook_url,
            payload=views.job(job),
            sealed_secret=sf.webhook_secret,
            context=job.id,
        )
    except AppError as exc:
        # The job's result stands; a webhook that can no longer be sent is only logged.
        log.warning("webhook for %s not enqueued: %s", job.id, exc.message)
    if job.state is JobState.COMPLETED:
        from google.cloud import firestore

        jobs.update_fields(job.id, {path("webhook_secret"): firestore.DELETE_FIELD})
