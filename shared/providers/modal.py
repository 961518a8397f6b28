"""Modal, through its Python client.

Production spawns the deployed function `relay-images/<function>` with the job's payload,
callback URL and callback token; the function body posts RunPod-shaped results to that
callback itself, the token in the X-Relay-Callback-Token header (never in the URL).
Offline Modal has no control plane (`.remote()`/`.spawn()` need a token), so the local
mode runs the very same function body through `Function.local()` in a background thread
and then posts the same callback. The app module is named in configuration, so shared/
never imports gpu_handlers/.

Polling a call (`status`) answers only what Modal said about the call: its result, still
running, not found, timed out, cancelled, or the function's own error. A failure to ask
(connection, auth, rate limit, Modal's internal errors) raises `BackendUnavailable`, so the
job keeps running and its hold stays (`status_from_exception` is that table).
"""

from __future__ import annotations

import importlib
import threading
import uuid
from typing import Any

from shared.engine.backends import (
    DEFAULT_CALL_TIMEOUT_S,
    BackendStatus,
    BackendUnavailable,
    Callback,
    WorkerHealth,
)
from shared.engine.clients import http_client
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings

APP_NAME = "relay-images"
CALLBACK_TOKEN_HEADER = "X-Relay-Callback-Token"  # as shared/engine/dispatch.py reads it
APP_MODULE = "gpu_handlers.runtimes.modal_app"
_local_calls: dict[str, BackendStatus] = {}
_local_lock = threading.Lock()


def _local_mode() -> bool:
    return get_settings().on_emulators


class ModalBackend:
    name = "modal"

    def submit(
        self,
        *,
        model: str,
        payload: dict[str, Any],
        callback: Callback,
        timeout_s: int,
        endpoint: str | None = None,
    ) -> str:
        model = endpoint or model  # a Modal "endpoint" names the model the app serves
        if _local_mode():
            call_id = f"local-{uuid.uuid4()}"
            with _local_lock:
                _local_calls[call_id] = BackendStatus(status="IN_PROGRESS")
            threading.Thread(
                target=self._run_local, args=(call_id, model, payload, callback), daemon=True
            ).start()
            return call_id
        import modal

        try:
            fn = modal.Function.from_name(APP_NAME, "generate")
            call = fn.spawn(model, payload, callback.url, callback.token)
        except Exception as exc:  # the modal client raises many unrelated types
            raise AppError(ErrorKind.UNAVAILABLE, "Modal spawn failed") from exc
        return str(call.object_id)

    def _run_local(
        self, call_id: str, model: str, payload: dict[str, Any], callback: Callback
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
        http_client().post(
            callback.url,
            json=body,
            headers={CALLBACK_TOKEN_HEADER: callback.token},
            timeout=30.0,
        )

    def status(
        self,
        *,
        model: str,
        backend_job_id: str,
        timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        endpoint: str | None = None,
    ) -> BackendStatus:
        if _local_mode():
            with _local_lock:
                return _local_calls.get(backend_job_id, BackendStatus(status="IN_QUEUE"))
        import modal

        try:
            call = modal.FunctionCall.from_id(backend_job_id)
            return BackendStatus(status="COMPLETED", output=call.get(timeout=0))
        except BaseException as exc:  # classified below; unknown re-raised
            status = status_from_exception(exc)
            if status is None:
                raise
            return status

    def cancel(
        self,
        *,
        model: str,
        backend_job_id: str,
        timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        endpoint: str | None = None,
    ) -> None:
        if _local_mode():
            return
        import modal

        try:
            modal.FunctionCall.from_id(backend_job_id).cancel()
        except BaseException as exc:  # classified below; unknown re-raised
            status = status_from_exception(exc)
            if status is None:
                raise
            # NOT_FOUND / already finished: nothing left to cancel.

    def health(self, *, model: str, endpoint: str | None = None) -> WorkerHealth:
        # Modal starts containers on demand: reachable means jobs will run.
        return WorkerHealth(reachable=True, ready_workers=0)


def status_from_exception(exc: BaseException) -> BackendStatus | None:
    """What an exception from polling a Modal call says about the call.

    Definitive: not found, the function timed out, its input was cancelled, its output
    expired, or the function raised (Modal re-raises the remote exception, or RemoteError /
    ExecutionError). Transient (raises BackendUnavailable): Modal could not be asked
    (connection, auth, permission, rate limit, Modal's internal or service errors, gRPC,
    OS-level network errors). `None` for a BaseException that is not Modal's business
    (KeyboardInterrupt, SystemExit): the caller re-raises it.
    """
    import grpclib
    import modal.exception as mx

    if isinstance(exc, TimeoutError):  # builtin: the call has no output yet
        return BackendStatus(status="IN_PROGRESS")
    if isinstance(exc, mx.NotFoundError):
        return BackendStatus(status="NOT_FOUND", error="Modal does not know this call")
    if isinstance(exc, mx.FunctionTimeoutError):
        return BackendStatus(status="TIMED_OUT", error="the function timed out")
    if isinstance(exc, mx.InputCancellation):
        return BackendStatus(status="CANCELLED", error="the call was cancelled")
    if isinstance(exc, mx.OutputExpiredError):
        return BackendStatus(status="FAILED", error="the call's output expired")
    transient = (
        mx.ConnectionError,
        mx.AuthError,
        mx.PermissionDeniedError,
        mx.ResourceExhaustedError,
        mx.InternalError,
        mx.InternalFailure,
        mx.ServiceError,
        mx.ClientClosed,
        mx.TimeoutError,
        grpclib.GRPCError,
        OSError,
    )
    if isinstance(exc, transient):
        raise BackendUnavailable(f"Modal could not be asked: {type(exc).__name__}") from exc
    if isinstance(exc, Exception):
        # The function itself raised (re-raised here by type), or RemoteError/ExecutionError.
        return BackendStatus(status="FAILED", error=str(exc)[:500] or type(exc).__name__)
    return None
