"""The grid's one-time priority boost, paid through Stripe Checkout.

Submitting with `priority_boost: true` opens a Checkout Session for the boost and records
it on the job (`site_fields.boost`: awaiting_payment, with the checkout URL, which the job
response shows). The +50 priority applies only when Stripe reports the session paid
(`checkout.session.completed`), at most once, and only while the job is still pending; a
payment that arrives after the job left the queue is recorded as `paid_late`.
"""

from __future__ import annotations

from typing import Any

from shared.engine import jobs
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobRecord, JobState
from shared.engine.settings import get_settings
from shared.grid.jobs import requeue_priority
from shared.providers.stripe import client

BOOST_PRIORITY = 50
BOOST_PRICE_CENTS = 100  # USD, one time
PURPOSE = "grid_priority_boost"
PENDING = frozenset({JobState.PENDING, JobState.QUEUED})


def start_boost(job: JobRecord) -> JobRecord:
    settings = get_settings()
    grid_id = job.site_fields["grid_id"]
    try:
        session = client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": BOOST_PRICE_CENTS,
                            "product_data": {"name": f"Priority boost for job {grid_id}"},
                        },
                    }
                ],
                "success_url": f"{settings.public_url}/boost/success?job={grid_id}",
                "cancel_url": f"{settings.public_url}/boost/cancel?job={grid_id}",
                "client_reference_id": job.account_id,
                "metadata": {"purpose": PURPOSE, "job_id": job.id},
            },
            options={"idempotency_key": f"boost-{job.id}"},
        )
    except Exception as exc:  # the stripe SDK's errors share no narrower base with httpx's
        jobs.update_fields(job.id, {"site_fields.boost": {"status": "unavailable"}})
        raise AppError(ErrorKind.UNAVAILABLE, "payment provider unavailable") from exc
    boost = {"status": "awaiting_payment", "session_id": session.id, "checkout_url": session.url}
    jobs.update_fields(job.id, {"site_fields.boost": boost})
    return job.model_copy(update={"site_fields": {**job.site_fields, "boost": boost}})


def apply_payment(session: dict[str, Any]) -> str:
    """Apply a paid boost session (from a verified event). Idempotent."""
    metadata = session.get("metadata") or {}
    if metadata.get("purpose") != PURPOSE or session.get("payment_status") != "paid":
        return "ignored"
    job = jobs.find(str(metadata.get("job_id", "")))
    if job is None or (job.site_fields.get("boost") or {}).get("session_id") != session.get("id"):
        return "unknown session"
    boost = job.site_fields["boost"]
    if boost.get("status") != "awaiting_payment":
        return "already applied"
    boosted = int(job.site_fields.get("priority", 0)) + BOOST_PRIORITY
    moved = jobs.transition(
        job.id,
        from_states=PENDING,
        fields={"site_fields.priority": boosted, "site_fields.boost.status": "applied"},
        extra_writes=lambda batch, current: requeue_priority(batch, current, boosted),
    )
    if moved is None:
        # Preconditioned like every job write: a concurrent delivery may have applied it.
        current = jobs.get(job.id).site_fields.get("boost", {}).get("status")
        if current == "awaiting_payment":
            jobs.update_fields(job.id, {"site_fields.boost.status": "paid_late"})
            return "paid late"
        return "already applied"
    return "applied"
