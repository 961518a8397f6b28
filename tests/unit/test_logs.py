"""Structured log lines: Cloud Logging's fields, trace parsing, context that never leaks."""

import json
import logging

import pytest

from shared.engine import logs

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _line(caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    return json.loads(logs.JsonFormatter().format(caplog.records[-1]))


def test_cloud_trace_header_gives_trace_and_hex_span() -> None:
    trace, span = logs.trace_from_headers({"X-Cloud-Trace-Context": f"{TRACE}/12345;o=1"})
    assert trace == TRACE and span == f"{12345:016x}"


def test_traceparent_is_read_when_there_is_no_cloud_header() -> None:
    header = f"00-{TRACE}-00f067aa0ba902b7-01"
    assert logs.trace_from_headers({"traceparent": header}) == (TRACE, "00f067aa0ba902b7")


@pytest.mark.parametrize("bad", ["", "nonsense", "0" * 32 + "/1;o=1", "zz" * 16, TRACE + "x"])
def test_a_malformed_trace_header_starts_a_new_trace(bad: str) -> None:
    trace, span = logs.trace_from_headers({"X-Cloud-Trace-Context": bad})
    assert len(trace) == 32 and trace != TRACE and int(trace, 16) and span is None


def test_a_sane_request_id_is_honoured_and_anything_else_replaced() -> None:
    assert logs.request_id_from({"X-Request-Id": "client-req-0001"}) == "client-req-0001"
    for bad in ("short", "x" * 200, "has space in it", "new\nline-injected"):
        assert logs.request_id_from({"X-Request-Id": bad}) != bad


def test_a_line_carries_severity_trace_and_the_bound_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {"X-Cloud-Trace-Context": f"{TRACE}/7;o=1", "X-Request-Id": "req-abcdef12"}
    with caplog.at_level(logging.INFO), logs.request_context(headers, project="demo-p"):
        logs.bind(job_id="job-1", account_id="acct-1")
        logging.getLogger("relay.test").warning("something %s", "happened")
        line = _line(caplog)
    assert line["severity"] == "WARNING" and line["message"] == "something happened"
    assert line["logging.googleapis.com/trace"] == f"projects/demo-p/traces/{TRACE}"
    assert line["logging.googleapis.com/spanId"] == f"{7:016x}"
    assert (line["request_id"], line["job_id"], line["account_id"]) == (
        "req-abcdef12",
        "job-1",
        "acct-1",
    )


def test_context_ends_with_its_request(caplog: pytest.LogCaptureFixture) -> None:
    with logs.request_context({}, project="demo-p"):
        logs.bind(job_id="job-2")
    with caplog.at_level(logging.INFO):
        logging.getLogger("relay.test").info("after")
        line = _line(caplog)
    assert "job_id" not in line and "logging.googleapis.com/trace" not in line


def test_tasks_continue_the_current_trace() -> None:
    assert logs.trace_headers() == {}
    with logs.request_context({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}, project="p"):
        headers = logs.trace_headers()
    # What the task's target reads back is the same trace.
    assert logs.trace_from_headers(headers)[0] == TRACE
    assert logs.trace_from_headers({"traceparent": headers["traceparent"]})[0] == TRACE
