"""RunPod serverless, over its public endpoint API.

The same client talks to RunPod's hosted API and to the local control plane
(infra/local/runpod_server.py); only `runpod_api_base` differs.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from shared.engine.backends import BackendStatus, WorkerHealth
from shared.engine.clients import http_client
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings

HEALTH_CACHE_S = 5.0
_health_cache: dict[str, tuple[float, WorkerHealth]] = {}


class RunPodBackend:
    name = "runpod"

    def _url(self, model: str, action: str) -> str:
        settings = get_settings()
        endpoint = settings.runpod_endpoints.get(model)
        if not endpoint:
            raise AppError(ErrorKind.UNAVAILABLE, f"no RunPod endpoint configured for {model}")
        return f"{settings.runpod_api_base.rstrip('/')}/v2/{endpoint}/{action}"

    def _call(self, method: str, url: str, json: Any = None, timeout: float = 10.0) -> Any:
        headers = {"Authorization": f"Bearer {get_settings().runpod_api_key}"}
        try:
            response = http_client().request(
                method, url, json=json, headers=headers, timeout=timeout
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise AppError(ErrorKind.UNAVAILABLE, "RunPod request failed") from exc
        return response.json()

    def submit(
        self, *, model: str, payload: dict[str, Any], callback_url: str, timeout_s: int
    ) -> str:
        body = {
            "input": payload,
            "webhook": callback_url,
            "policy": {"executionTimeout": timeout_s * 1000, "ttl": timeout_s * 1000},
        }
        return str(self._call("POST", self._url(model, "run"), json=body)["id"])

    def status(self, *, model: str, backend_job_id: str) -> BackendStatus:
        data = self._call("GET", self._url(model, f"status/{backend_job_id}"))
        return BackendStatus(
            status=data.get("status", ""), output=data.get("output"), error=data.get("error")
        )

    def cancel(self, *, model: str, backend_job_id: str) -> None:
        self._call("POST", self._url(model, f"cancel/{backend_job_id}"))

    def health(self, *, model: str) -> WorkerHealth:
        cached = _health_cache.get(model)
        if cached and time.monotonic() - cached[0] < HEALTH_CACHE_S:
            return cached[1]
        try:
            data = self._call("GET", self._url(model, "health"), timeout=2.0)
            workers = data.get("workers", {})
            health = WorkerHealth(
                reachable=True,
                ready_workers=int(workers.get("idle", 0)) + int(workers.get("running", 0)),
            )
        except AppError:
            health = WorkerHealth(reachable=False, ready_workers=0)
        _health_cache[model] = (time.monotonic(), health)
        return health
