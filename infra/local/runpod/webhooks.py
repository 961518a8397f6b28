"""Completion webhooks of the local RunPod control plane.

A delivery is ``(url, status object)``: the exact object ``/status/<id>`` returned when the job
finished, POSTed as JSON in up to ``1 + len(retry_delays)`` attempts (any 2xx ends it). Delivery
never runs on the caller's thread, so a slow receiver cannot delay a worker's result post or any
other request; a failed attempt is logged, never raised.
"""

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from infra.local.runpod.store import Delivery, ServerConfig

log = logging.getLogger("relay.runpod_local")


def deliver(deliveries: list[Delivery], config: ServerConfig) -> None:
    """Start one background thread per delivery."""
    for url, payload in deliveries:
        threading.Thread(
            target=post_webhook,
            args=(url, payload, config.webhook_retry_delays, config.webhook_timeout_s),
            name=f"webhook-{payload['id']}",
            daemon=True,
        ).start()


def post_webhook(
    url: str, payload: dict[str, Any], retry_delays: Sequence[float], timeout_s: float
) -> None:
    attempts = len(retry_delays) + 1
    for attempt in range(attempts):
        try:
            response = httpx.post(url, json=payload, timeout=timeout_s)
            if response.is_success:
                return
            reason = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            reason = repr(exc)
        log.warning(
            "webhook %s for job %s failed (attempt %d/%d): %s",
            url,
            payload["id"],
            attempt + 1,
            attempts,
            reason,
        )
        if attempt < len(retry_delays):
            time.sleep(retry_delays[attempt])
