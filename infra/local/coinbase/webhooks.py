"""Webhook signing and delivery for the local Coinbase Commerce server.

A body is signed as Commerce signs it: ``X-CC-Webhook-Signature`` is the hex HMAC-SHA256 of the
exact bytes, keyed by the shared secret. Delivery runs on worker threads so it never delays an
API call: up to ``1 + len(retry_delays)`` attempts per endpoint, each retry carrying the next
``attempt_number`` and its own signature, while the first attempt's bytes are kept unchanged so
a resend is byte-identical. A crashed delivery is logged, never raised into a request. Once
closed, the deliverer sends nothing more.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import httpx

log = logging.getLogger("relay.coinbase_local")

USER_AGENT = "weipay-webhooks"  # what Commerce's webhook sender calls itself


def signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, sha256).hexdigest()


@dataclass
class SentEvent:
    id: str
    type: str
    charge_id: str
    created_at: str
    delivery: dict[str, Any]  # the webhook body; attempt_number varies per attempt
    body: bytes  # the first attempt's exact bytes, resent as they are


class Deliverer:
    """Posts signed webhook bodies to endpoints from worker threads, with retries."""

    def __init__(self, secret: str, retry_delays: tuple[float, ...], timeout_s: float) -> None:
        self._secret = secret
        self._retry_delays = retry_delays
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="coinbase-webhook")
        self._client = httpx.Client(timeout=timeout_s)
        self._stop = threading.Event()
        self._log_lock = threading.Lock()
        self._attempts: dict[str, list[dict[str, Any]]] = {}

    def submit(self, sent: SentEvent, url: str) -> None:
        if not self._stop.is_set():
            with contextlib.suppress(RuntimeError):  # the pool shut down meanwhile
                self._pool.submit(self._deliver_logged, sent, url)

    def attempts(self, event_id: str) -> list[dict[str, Any]]:
        with self._log_lock:
            return [dict(a) for a in self._attempts.get(event_id, [])]

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _deliver_logged(self, sent: SentEvent, url: str) -> None:
        try:
            self._deliver(sent, url)
        except Exception:
            log.exception("webhook %s -> %s: delivery crashed", sent.id, url)

    def _deliver(self, sent: SentEvent, url: str) -> None:
        for attempt, delay in enumerate((*self._retry_delays, None), start=1):
            if self._stop.is_set():
                return
            body = sent.body
            if attempt > 1:
                retry = {**sent.delivery, "attempt_number": attempt}
                body = json.dumps(retry, separators=(",", ":")).encode()
            status, error = self._post(body, url)
            with self._log_lock:
                self._attempts.setdefault(sent.id, []).append(
                    {"url": url, "attempt": attempt, "status": status, "error": error}
                )
            if status is not None and 200 <= status < 300:
                return
            log.warning("webhook %s -> %s attempt %d: %s", sent.id, url, attempt, error or status)
            if delay is None or self._stop.wait(delay):
                return

    def _post(self, body: bytes, url: str) -> tuple[int | None, str | None]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-CC-Webhook-Signature": signature(body, self._secret),
        }
        try:
            response = self._client.post(url, content=body, headers=headers)
        except Exception as exc:  # any failure is a failed attempt; the thread goes on
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None
