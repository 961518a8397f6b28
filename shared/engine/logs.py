"""Structured logs: JSON lines on stdout in Cloud Logging's structured format.

Every line carries `severity`, `message`, and what is known of its context: the trace
(`logging.googleapis.com/trace`, `projects/<project>/traces/<id>`) and span, the request
id, the job id and the account id. The context lives in contextvars: the HTTP doorway
opens one per request (`request_context`), services add to it (`bind(job_id=...)`), and
it ends with the request, so nothing leaks into the next one. The trace travels through
Cloud Tasks (`trace_headers()` goes on every task), so one job's life reads as one trace.

What is never logged: request bodies, headers other than the trace, query strings, API
keys, codes or tokens. Lines about money and jobs come from the committed batches
themselves (`store.on_commit`): one per ledger entry and one per job state change, so a
write that did not land is never logged as if it had. `configure()` sets this up once
per process (main.py at import, the local gateway and workers at start).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import re
import secrets
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"
CLOUD_TRACE_HEADER = "X-Cloud-Trace-Context"
TRACEPARENT_HEADER = "traceparent"
REQUEST_ID_HEADER = "X-Request-Id"
# Fields a line takes from the context, in this order.
CONTEXT_FIELDS = ("request_id", "job_id", "account_id")

_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=[01])?$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "relay_log_context", default=types.MappingProxyType({})
)
log = logging.getLogger("relay")


# --- context ------------------------------------------------------------------------------


def bind(**fields: str | None) -> None:
    """Add fields (job_id, account_id, ...) to every later line of this request or task.

    Outside a request or task (a CLI command, a test calling a service) there is nothing to
    scope them to, so nothing is bound: they would stick to the thread for good."""
    context = _context.get()
    if "request_id" not in context:
        return
    _context.set({**context, **{k: v for k, v in fields.items() if v}})


def current() -> Mapping[str, str]:
    return _context.get()


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def trace_from_headers(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """(trace id, span id as 16 hex digits or None) from the incoming headers; a new trace
    id when neither carries a well-formed one."""
    cloud = _CLOUD_TRACE.match(headers.get(CLOUD_TRACE_HEADER, "").strip())
    if cloud and int(cloud.group(1), 16):
        span = cloud.group(2)
        span_hex = f"{int(span):016x}" if span and 0 < int(span) < 2**64 else None
        return cloud.group(1).lower(), span_hex
    parent = _TRACEPARENT.match(headers.get(TRACEPARENT_HEADER, "").strip())
    if parent and int(parent.group(1), 16):
        return parent.group(1), parent.group(2)
    return new_trace_id(), None


def request_id_from(headers: Mapping[str, str]) -> str:
    """A sane incoming X-Request-Id is honoured; anything else gets a new one."""
    incoming = headers.get(REQUEST_ID_HEADER, "").strip()
    return incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)


@contextlib.contextmanager
def request_context(headers: Mapping[str, str], *, project: str) -> Iterator[str]:
    """The context of one request or task: its trace and request id; yields the id."""
    trace_id, span_id = trace_from_headers(headers)
    request_id = request_id_from(headers)
    fields = {"trace_id": trace_id, "trace": f"projects/{project}/traces/{trace_id}"}
    if span_id:
        fields["span_id"] = span_id
    token = _context.set({**fields, "request_id": request_id})
    try:
        yield request_id
    finally:
        _context.reset(token)


def trace_headers() -> dict[str, str]:
    """Headers that continue the current trace in a task (a new child span), or {}."""
    trace_id = _context.get().get("trace_id")
    if not trace_id:
        return {}
    span = new_span_id()
    return {
        CLOUD_TRACE_HEADER: f"{trace_id}/{int(span, 16)};o=1",
        TRACEPARENT_HEADER: f"00-{trace_id}-{span}-01",
    }


# --- formatting ---------------------------------------------------------------------------


def _remember_context(
    factory: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    """Records keep the context they were made in, whenever and wherever they are formatted."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.relay_context = _context.get()
        return record

    make.relay_context = True  # type: ignore[attr-defined]
    return make


if not getattr(logging.getLogRecordFactory(), "relay_context", False):
    logging.setLogRecordFactory(_remember_context(logging.getLogRecordFactory()))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, Cloud Logging's special fields included. A record's
    `fields` (logging's `extra={"fields": {...}}`) are added, overriding the context."""

    def format(self, record: logging.LogRecord) -> str:
        context = getattr(record, "relay_context", None) or _context.get()
        line: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "logger": record.name,
        }
        if "trace" in context:
            line[TRACE_KEY] = context["trace"]
        if "span_id" in context:
            line[SPAN_KEY] = context["span_id"]
        line.update({k: context[k] for k in CONTEXT_FIELDS if k in context})
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            # Error Reporting reads the stack from the message.
            line["message"] += "\n" + self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def info(message: str, **fields: Any) -> None:
    log.info(message, extra={"fields": fields})


_configured = False


def configure(level: int = logging.INFO) -> None:
    """JSON lines on stdout for the whole process, and the commit observer; idempotent."""
    global _configured
    if _configured:
        return
    _configured = True
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    from shared.engine import commit_log

    commit_log.register()
