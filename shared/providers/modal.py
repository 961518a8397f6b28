"""Modal, through its Python client.

Production spawns the deployed function `relay-images/<function>` with the job's payload
and callback URL; the function body posts RunPod-shaped results to that callback itself.
Offline Modal has no control plane (`.remote()`/`.spawn()` need a token), so the local
mode runs the very same function body through `Function.local()` in a background thread
and then posts the same callback. The app module is named in configuration, so shared/
never imports gpu_handlers/.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from typing import Any

from shared.engine.backends import BackendStatus, WorkerHealth
from shared.engine.clients import http_client
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings

APP_NAME = "relay-images"
APP_MODULE = "gpu_handlers.runtimes.modal_app"
_local_calls: dict[str, BackendStatus] = {}
_local_lock = threading.Lock()


def _local_mode() -> bool:
    return get_settings().on_emulators


class ModalBackend:
    name = "modal"

    def submit(
        self, *, model: str, payload: dict[str, Any], callback_url: str, timeout_s: int
    ) -> str:
        if _local_mode():
            call_id = f"local-{uuid.uuid4()}"
            with _local_lock:
                _local_calls[call_id] = BackendStatus(status="IN_PROGRESS")
            threading.Thread(
                target=self._run_local, args=(call_id, model, payload, callback_url), daemon=True
            ).start()
            return call_id
        import modal

        try:
            fn = modal.Function.from_name(APP_NAME, "generate")
            call = fn.spawn(model, payload, callback_url)
        except Exception as exc:  # the modal client raises many unrelated types
            raise AppError(ErrorKind.UNAVAILABLE, "Modal spawn failed") from exc
        return str(call.object_id)

    def _run_local(
        self, call_id: str, model: str, payload: dict[str, Any], callback_url: str
    ) -> None:
        run_local = importlib.import_module(APP_MODULE).run_local
        try:
            result = BackendStatus(status="COMPLETED", output=run_local(model, payload))
        except Exception as exc:  # reported to the job as a failure, like a crashed container
            result = BackendStatus(status="FAILED", error=str(exc)[:500])
        with _local_lock:
            _local_calls[call_id] = result
        body: dict[str, Any] = {"id": call_id, "status": result.status}
        body.update(
            {"output": result.output} if result.output is not None else {"error": result.error}
        )
        http_client().post(callback_url, json=body, timeout=30.0)

    def status(self, *, model: str, backend_job_id: str) -> BackendStatus:
        if _local_mode():
            with _local_lock:
                return _local_calls.get(backend_job_id, BackendStatus(status="IN_QUEUE"))
        import modal

        call = modal.FunctionCall.from_id(backend_job_id)
        try:
            return BackendStatus(status="COMPLETED", output=call.get(timeout=0))
        except TimeoutError:
            return BackendStatus(status="IN_PROGRESS")
        except Exception as exc:
            return BackendStatus(status="FAILED", error=str(exc)[:500])

    def cancel(self, *, model: str, backend_job_id: str) -> None:
        if _local_mode():
            return
        import modal

        modal.FunctionCall.from_id(backend_job_id).cancel()

    def health(self, *, model: str) -> WorkerHealth:
        # Modal starts containers on demand: reachable means jobs will run.
        return WorkerHealth(reachable=True, ready_workers=0)
