"""Agent request state (`studio_requests/<requestId>`) and the deltas the client polls.

Invariants:
- `assistant_text` and `tool_events` only ever grow (appended to, never rewritten), so a
  client that polls with the offsets it was last given and concatenates the deltas holds
  exactly the persisted reply; an offset past the end is an empty delta, not an error.
  Offsets count Unicode code points (`assistant_text`) and events (`tool_events`).
- `tool_events` is the tool-call stream: `{"type": "call", index, id, name, arguments}`
  pieces as the model streams them (a call's arguments are the concatenation of its
  pieces) and one `{"type": "result", index, status, result}` per executed call.
- Status moves queued -> running -> completed | failed, never back from completed or
  failed. Only the holder of the lease (`claim`) writes a running request, so one loop
  runs a request at a time even when Cloud Tasks delivers its task twice.
- A request is visible only to its account; anyone else gets NOT_FOUND.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.media.studio.models import REQUESTS, new_id

LEASE: Final = dt.timedelta(minutes=15)
PLAN_WAIT: Final = dt.timedelta(minutes=30)  # how long a plan's request waits for its jobs


class RequestKind(StrEnum):
    PROMPT = "prompt"  # messages: the tool loop, no paid tool offered
    PLAN = "plan"  # approval-plans/execute: wait for the plan's jobs, attach their outputs


class RequestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


DONE: Final = frozenset({RequestStatus.COMPLETED, RequestStatus.FAILED})


class AgentRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    id: str
    account_id: str
    project_id: str
    thread_id: str
    kind: RequestKind
    prompt: str
    agent_model: str
    reasoning_level: str
    plan_id: str | None = None
    job_ids: list[str] = []
    status: RequestStatus = RequestStatus.QUEUED
    assistant_text: str = ""
    tool_events: list[dict[str, Any]] = []
    asset_ids: list[str] = []
    error: dict[str, Any] | None = None
    attempts: int = 0
    lease_until: dt.datetime | None = None
    wait_until: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


def new_document(
    *,
    account_id: str,
    project_id: str,
    thread_id: str,
    kind: RequestKind,
    prompt: str,
    agent_model: str,
    reasoning_level: str,
    plan_id: str | None = None,
    job_ids: list[str] | None = None,
) -> dict[str, Any]:
    now = clock.now()
    return {
        "account_id": account_id,
        "project_id": project_id,
        "thread_id": thread_id,
        "kind": kind.value,
        "prompt": prompt,
        "agent_model": agent_model,
        "reasoning_level": reasoning_level,
        "plan_id": plan_id,
        "job_ids": job_ids or [],
        "status": RequestStatus.QUEUED.value,
        "assistant_text": "",
        "tool_events": [],
        "asset_ids": [],
        "error": None,
        "attempts": 0,
        "lease_until": None,
        "wait_until": now + PLAN_WAIT if kind is RequestKind.PLAN else None,
        "created_at": now,
        "updated_at": now,
    }


def create(doc: dict[str, Any]) -> str:
    request_id = new_id("req")
    db().collection(REQUESTS).document(request_id).create(doc)
    return request_id


def get(request_id: str) -> AgentRequest | None:
    snap = db().collection(REQUESTS).document(request_id).get()
    data = snap.to_dict() if snap.exists else None
    return None if data is None else AgentRequest(id=snap.id, **data)


def owned(account_id: str, request_id: str) -> AgentRequest:
    found = get(request_id)
    if found is None or found.account_id != account_id:
        raise AppError(ErrorKind.NOT_FOUND, "agent request not found")
    return found


def claim(request_id: str) -> AgentRequest | None:
    """Take the request's lease (queued, or running with a lapsed lease) and mark it
    running; None when it is done or another run holds the lease."""
    from google.cloud import firestore

    ref = db().collection(REQUESTS).document(request_id)

    @firestore.transactional
    def run(transaction: Any) -> dict[str, Any] | None:
        snap = ref.get(transaction=transaction)
        data = snap.to_dict() if snap.exists else None
        if data is None or data["status"] in DONE:
            return None
        now = clock.now()
        lease = data.get("lease_until")
        if data["status"] == RequestStatus.RUNNING and lease is not None and lease > now:
            return None
        changes = {
            "status": RequestStatus.RUNNING.value,
            "lease_until": now + LEASE,
            "attempts": int(data.get("attempts") or 0) + 1,
            "updated_at": now,
        }
        transaction.update(ref, changes)
        return {**data, **changes}

    data = run(db().transaction())
    return None if data is None else AgentRequest(id=request_id, **data)


def save(request_id: str, changes: dict[str, Any]) -> None:
    """A lease holder's write (text and events are passed whole: the holder is the only
    writer, and appends only)."""
    db().collection(REQUESTS).document(request_id).update({**changes, "updated_at": clock.now()})


def release(request_id: str) -> None:
    save(request_id, {"lease_until": None})


def finish(
    request_id: str,
    *,
    status: RequestStatus,
    error: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    save(request_id, {"status": status.value, "error": error, "lease_until": None, **(extra or {})})


def view(request: AgentRequest, *, assistant_offset: int, tool_call_offset: int) -> dict[str, Any]:
    text, events = request.assistant_text, request.tool_events
    body: dict[str, Any] = {
        "requestId": request.id,
        "kind": request.kind.value,
        "status": request.status.value,
        "projectId": request.project_id,
        "threadId": request.thread_id,
        "approvalPlanId": request.plan_id,
        "assistantDelta": text[assistant_offset:],
        "assistantOffset": len(text),
        "toolCallDeltas": events[tool_call_offset:],
        "toolCallOffset": len(events),
        "done": request.status in DONE,
        "assetIds": request.asset_ids,
        "createdAt": clock.iso(request.created_at),
        "updatedAt": clock.iso(request.updated_at),
    }
    if request.error:
        body["error"] = request.error
    return body
