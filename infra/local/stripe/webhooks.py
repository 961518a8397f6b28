"""Webhook endpoints, Stripe's signature scheme and background delivery with retries.

Each delivery is an HTTP POST of the event's stored JSON body (the same bytes on every attempt
and every resend) with ``Content-Type: application/json; charset=utf-8`` and
``Stripe-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>" keyed by the endpoint
secret>``, exactly what ``stripe.Webhook.construct_event`` verifies. Like Stripe, the timestamp
and signature are computed fresh for each attempt. Any 2xx ends a delivery; otherwise it is
retried (3 attempts in all by default, after short pauses rather than Stripe's hours).
Deliveries run on a small thread pool, so an API call never waits on a webhook receiver.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import httpx

log = logging.getLogger("relay.stripe_local")

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Endpoint:
    id: str
    url: str
    secret: str
    enabled_events: tuple[str, ...] = ("*",)
    created: int = field(default_factory=lambda: int(time.time()))

    def wants(self, event_type: str) -> bool:
        for pattern in self.enabled_events:
            if pattern == "*" or pattern == event_type:
                return True
            # Stripe's wildcard form "charge.*" covers "charge.dispute.created" too.
            if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
                return True
        return False

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "webhook_endpoint",
            "created": self.created,
            "enabled_events": list(self.enabled_events),
            "livemode": False,
            "secret": self.secret,
            "status": "enabled",
            "url": self.url,
        }


class Deliverer:
    """Posts signed event bodies to endpoints from worker threads, with retries."""

    def __init__(
        self,
        retry_delays: tuple[float, ...] = (0.5, 1.0),
        timeout_s: float = 10.0,
        workers: int = 8,
    ) -> None:
        self._retry_delays = retry_delays
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stripe-webhook")
        # One pooled client: building an httpx client per request costs ~50-100 ms (TLS setup).
        self._client = httpx.Client(timeout=timeout_s)
        self._stop = threading.Event()
        self._log_lock = threading.Lock()
        self._attempts: dict[str, list[dict[str, Any]]] = {}

    def submit(self, event_id: str, body: bytes, endpoint: Endpoint) -> None:
        if self._stop.is_set():
            return
        # RuntimeError: the pool shut down between the check and the submit.
        with contextlib.suppress(RuntimeError):
            self._pool.submit(self._deliver_logged, event_id, body, endpoint)

    def attempts(self, event_id: str) -> list[dict[str, Any]]:
        with self._log_lock:
            return [dict(a) for a in self._attempts.get(event_id, [])]

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _deliver_logged(self, event_id: str, body: bytes, endpoint: Endpoint) -> None:
        # The pool would keep an exception in a future nobody reads; say it out loud instead.
        try:
            self._deliver(event_id, body, endpoint)
        except Exception:
            log.exception("webhook %s -> %s: delivery crashed", event_id, endpoint.url)

    def _deliver(self, event_id: str, body: bytes, endpoint: Endpoint) -> None:
        delays = (*self._retry_delays, None)
        for attempt, delay in enumerate(delays, start=1):
            if self._stop.is_set():
                return
            status, error = self._post(body, endpoint)
            self._record(event_id, endpoint, attempt, status, error)
            if status is not None and 200 <= status < 300:
                return
            log.warning(
                "webhook %s -> %s attempt %d failed: %s",
                event_id,
                endpoint.url,
                attempt,
                error or f"HTTP {status}",
            )
            if delay is None or self._stop.wait(delay):
                return

    def _post(self, body: bytes, endpoint: Endpoint) -> tuple[int | None, str | None]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Accept": "*/*; q=0.5, application/xml",
            "Cache-Control": "no-cache",
            "Stripe-Signature": signature_header(body, endpoint.secret, int(time.time())),
        }
        try:
            response = self._client.post(endpoint.url, content=body, headers=headers)
        except Exception as exc:  # any failure is a failed attempt; the thread must go on
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None

    def _record(
        self, event_id: str, endpoint: Endpoint, attempt: int, status: int | None, error: str | None
    ) -> None:
        with self._log_lock:
            self._attempts.setdefault(event_id, []).append(
                {
                    "endpoint": endpoint.id,
                    "url": endpoint.url,
                    "attempt": attempt,
                    "status": status,
                    "error": error,
                    "at": time.time(),
                }
            )
