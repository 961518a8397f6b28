"""Structured logs of a running stack: request lines, ledger and job lines, task traces."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from shared.engine import commit_log, ledger, logs, queue, store
from shared.engine.store import JOBS, db
from tests.helpers import mail_code, media_account, media_api, new_account

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _gateway_lines(stack: Any, *, timeout: float = 10.0, **match: str) -> list[dict[str, Any]]:
    """JSON lines of the gateway's log whose fields include `match`, waiting for one."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for raw in (stack.logs / "gateway.log").read_text().splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                if all(line.get(k) == v for k, v in match.items()):
                    found.append(line)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_request_line_has_its_request_id_and_trace_and_no_secret(stack) -> None:
    api = media_api(stack)
    email = f"logs-{uuid.uuid4().hex[:12]}@example.com"
    assert httpx.post(f"{api}/auth/email/start", json={"email": email}).status_code == 202
    code = mail_code(stack, email)
    _, key = media_account()
    response = httpx.post(
        f"{api}/auth/email/verify?token=query-secret-value",
        json={"email": email, "code": code},
        headers={"Authorization": f"Bearer {key}", "X-Cloud-Trace-Context": f"{TRACE}/42;o=1"},
    )
    assert response.status_code in (200, 201), response.text
    request_id = response.headers["X-Request-Id"]
    [line] = _gateway_lines(stack, request_id=request_id, path="/api/v1/auth/email/verify")
    assert line["severity"] == "INFO" and line["status"] == response.status_code
    assert line["method"] == "POST" and isinstance(line["latency_ms"], float)
    assert "/api/v1/auth/email/verify" in line["message"]
    assert line["logging.googleapis.com/trace"] == f"projects/demo-relay/traces/{TRACE}"
    assert line["logging.googleapis.com/spanId"] == f"{42:016x}"
    issued = response.json()["apiKey"]
    whole_log = _without_timestamps((stack.logs / "gateway.log").read_text())
    for secret in (key, code, issued, "query-secret-value", email):
        # A whole token, so a 6-digit code cannot "appear" inside a hex id or a number.
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", whole_log)


def _without_timestamps(log: str) -> str:
    """The log with each JSON line's `time` dropped (its microseconds are six digits)."""
    lines = []
    for raw in log.splitlines():
        if raw.startswith("{"):
            line = json.loads(raw)
            line.pop("time", None)
            raw = json.dumps(line)
        lines.append(raw)
    return "\n".join(lines)


def test_a_sane_incoming_request_id_is_echoed_and_a_bad_one_replaced(stack) -> None:
    api = media_api(stack)
    sane = f"client-{uuid.uuid4().hex}"
    assert (
        httpx.get(f"{api}/packages", headers={"X-Request-Id": sane}).headers["X-Request-Id"] == sane
    )
    replaced = httpx.get(f"{api}/packages", headers={"X-Request-Id": "bad id"})
    assert replaced.headers["X-Request-Id"] not in ("", "bad id")
    # A refused request is still one of the site's answers, with its id and its line.
    refused = httpx.get(f"{api}/balance", headers={"Authorization": "Bearer kt_not_a_key"})
    assert refused.status_code == 401
    [line] = _gateway_lines(stack, request_id=refused.headers["X-Request-Id"], status=401)
    assert line["severity"] == "INFO" and "kt_not_a_key" not in json.dumps(line)


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture):
    commit_log.register()
    with caplog.at_level(logging.INFO, logger="relay"):
        yield lambda: [json.loads(logs.JsonFormatter().format(r)) for r in caplog.records]


def test_ledger_entries_and_job_state_changes_are_logged_from_the_commit(stack, log_lines) -> None:
    account_id, _ = media_account()
    job_id, ref = f"logjob-{uuid.uuid4().hex}", uuid.uuid4().hex
    with logs.request_context({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}, project="p"):
        batch = db().batch()
        ledger.credit_writes(
            batch, account_id=account_id, kind=ledger.EntryKind.GRANT, ref=ref, micros=1_230_000
        )
        batch.set(db().collection(JOBS).document(job_id), {"state": "QUEUED"})
        store.commit(batch, label="test.grant_and_queue")
    lines = log_lines()
    [entry] = [line for line in lines if line.get("entry_id") == f"grant:{ref}"]
    assert entry["account_id"] == account_id and entry["kind"] == "grant"
    assert entry["balance_delta_micros"] == 1_230_000 and entry["held_delta_micros"] == 0
    assert entry["commit"] == "test.grant_and_queue"
    assert entry["logging.googleapis.com/trace"] == f"projects/p/traces/{TRACE}"
    [job] = [line for line in lines if line.get("job_id") == job_id]
    assert job["state"] == "QUEUED" and job["commit"] == "test.grant_and_queue"


def test_a_commit_that_did_not_land_logs_nothing(stack, log_lines) -> None:
    account_id, _ = media_account()
    ref = uuid.uuid4().hex
    ledger.credit(account_id=account_id, kind=ledger.EntryKind.GRANT, ref=ref, micros=10)
    batch = db().batch()
    ledger.credit_writes(
        batch, account_id=account_id, kind=ledger.EntryKind.GRANT, ref=ref, micros=10
    )
    with pytest.raises(store.CONFLICTS):
        store.commit(batch, label="test.duplicate")
    assert not [line for line in log_lines() if line.get("commit") == "test.duplicate"]


def test_an_enqueued_task_carries_the_trace_to_its_target(stack) -> None:
    missing_job = f"no-such-job-{uuid.uuid4().hex}"
    with logs.request_context({"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"}, project="x"):
        queue.enqueue(queue.Target.DISPATCH, {"job_id": missing_job})
    lines = _gateway_lines(
        stack,
        timeout=30,
        path="/task_dispatch/",
        **{"logging.googleapis.com/trace": f"projects/demo-relay/traces/{TRACE}"},
    )
    assert lines and all(line["status"] == 200 for line in lines)
    assert any(line.get("job_id") == missing_job for line in lines)


def test_an_observer_that_fails_never_makes_a_landed_commit_look_failed(stack) -> None:
    """Logging must not undo money: a broken observer is logged, the commit still counts."""

    def broken(_committed: object, _label: str) -> None:
        raise RuntimeError("observer bug")

    account, _ = new_account()
    stop = store.on_commit(broken)
    try:
        applied = ledger.credit(
            account_id=account, kind=ledger.EntryKind.GRANT, ref=f"obs-{uuid.uuid4()}", micros=5
        )
    finally:
        stop()
    assert applied is True
    assert ledger.balance(account).balance_micros == 5
