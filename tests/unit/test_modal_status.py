"""What an exception from polling a Modal call says about the job: only definitive answers
end it; failures to ask Modal leave it running (BackendUnavailable)."""

from __future__ import annotations

import grpclib
import modal.exception as mx
import pytest
from grpclib.const import Status

from shared.engine.backends import BackendUnavailable
from shared.providers.modal import status_from_exception


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (TimeoutError(), "IN_PROGRESS"),
        (mx.NotFoundError("no such call"), "NOT_FOUND"),
        (mx.FunctionTimeoutError("took too long"), "TIMED_OUT"),
        (mx.InputCancellation(), "CANCELLED"),
        (mx.OutputExpiredError("gone"), "FAILED"),
        (mx.RemoteError("container crashed"), "FAILED"),
        (mx.ExecutionError("bad result"), "FAILED"),
        (ValueError("the function itself raised this"), "FAILED"),
    ],
)
def test_definitive_modal_answers_map_to_a_status(exc: BaseException, status: str) -> None:
    result = status_from_exception(exc)
    assert result is not None and result.status == status


@pytest.mark.parametrize(
    "exc",
    [
        mx.ConnectionError("cannot reach Modal"),
        mx.AuthError("token expired"),
        mx.PermissionDeniedError("forbidden"),
        mx.ResourceExhaustedError("rate limited"),
        mx.InternalError("modal 5xx"),
        mx.ServiceError("rpc failed"),
        mx.ClientClosed(),
        grpclib.GRPCError(Status.UNAVAILABLE, "unavailable"),
        ConnectionResetError(),
        OSError("network is unreachable"),
    ],
)
def test_failures_to_ask_modal_are_transient(exc: BaseException) -> None:
    with pytest.raises(BackendUnavailable):
        status_from_exception(exc)


def test_interpreter_exits_are_not_modal_answers() -> None:
    assert status_from_exception(KeyboardInterrupt()) is None
