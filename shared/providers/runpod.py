"""RunPod serverless, over its public endpoint API.

The same client talks to RunPod's hosted API and to the local control plane
(infra/local/runpod_server.py); only `runpod_api_base` differs.

A 404 on a job's status is definitive (NOT_FOUND: RunPod does not know the job); every
other failure (network, timeout, 5xx, 401/403, 429) raises `BackendUnavailable` and says
nothing about the job. RunPod's /run takes no idempotency key: a /run whose answer was lost
may have started a run; shared/engine/dispatch.py makes such an extra run harmless.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from shared.engine.backends import (
    DEFAULT_CALL_TIMEOUT_S,
    BackendStatus,
    BackendUnavailable,
    Callback,
    WorkerHealth,
)
from shared.engine.clients import http_client
from shared.engine.settings import get_settings

HEALTH_CACHE_S = 5.0
_health_cache: dict[str, tuple[float, WorkerHealth]] = {}


class RunPodBackend:
    name = "runpod"

    def _url(self, model: str, action: str, endpoint: str | None = None) -> str:
        settings = get_settings()
        endpoint = endpoint or settings.runpod_endpoints.get(model)
        if not endpoint:
            raise BackendUnavailable(f"no RunPod endpoint configured for {model}")
        return f"{settings.runpod_api_base.rstrip('/')}/v2/{endpoint}/{action}"

    def _call(
        self,
        method: str,
        url: str,
        json: Any = None,
        timeout: float = DEFAULT_CALL_TIMEOUT_S,
        not_found: Any = None,
    ) -> Any:
        """The response's JSON; `not_found` on a 404 when given; BackendUnavailable else."""
        headers = {"Authorization": f"Bearer {get_settings().runpod_api_key}"}
        try:
            response = http_client().request(
                method, url, json=json, headers=headers, timeout=timeout
            )
            if response.status_code == 404 and not_found is not None:
                return not_found
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:  # ValueError: a body that is not JSON
            raise BackendUnavailable(
                f"RunPod request failed: {type(exc).__name__}",
                timed_out=isinstance(exc, httpx.TimeoutException),
            ) from exc

    def submit(
        self,
        *,
        model: str,
        payload: dict[str, Any],
        callback: Callback,
        timeout_s: int,
        endpoint: str | None = None,
    ) -> str:
        body = {
            "input": payload,
            # A bare URL: RunPod cannot send our header (shared/engine/dispatch.py).
            "webhook": callback.url_with_token,
            "policy": {"executionTimeout": timeout_s * 1000, "ttl": timeout_s * 1000},
        }
        return str(self._call("POST", self._url(model, "run", endpoint), json=body)["id"])

    def status(
        self,
        *,
        model: str,
        backend_job_id: str,
        timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        endpoint: str | None = None,
    ) -> BackendStatus:
        gone = {"status": "NOT_FOUND", "error": "RunPod does not know this job"}
        url = self._url(model, f"status/{backend_job_id}", endpoint)
        data = self._call("GET", url, timeout=timeout_s, not_found=gone)
        if not isinstance(data, dict):
            raise BackendUnavailable("RunPod status is not an object")
        return BackendStatus(
            status=str(data.get("status", "")), output=data.get("output"), error=data.get("error")
        )

    def cancel(
        self,
        *,
        model: str,
        backend_job_id: str,
        timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        endpoint: str | None = None,
    ) -> None:
        url = self._url(model, f"cancel/{backend_job_id}", endpoint)
        self._call("POST", url, timeout=timeout_s)

    def health(self, *, model: str, endpoint: str | None = None) -> WorkerHealth:
        cache_key = endpoint or model
        cached = _health_cache.get(cache_key)
        if cached and time.monotonic() - cached[0] < HEALTH_CACHE_S:
            return cached[1]
        try:
            data = self._call("GET", self._url(model, "health", endpoint), timeout=2.0)
            workers = data.get("workers", {})
            health = WorkerHealth(
                reachable=True,
                ready_workers=int(workers.get("idle", 0)) + int(workers.get("running", 0)),
            )
        except BackendUnavailable:
            health = WorkerHealth(reachable=False, ready_workers=0)
        _health_cache[cache_key] = (time.monotonic(), health)
        return health
