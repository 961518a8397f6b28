"""The agent loop, run by the `studio_agent_task` Cloud Task (never inside an HTTP request).

Invariants:
- One run per request at a time (`requests.claim` leases it); a redelivered task for a
  request that is done, or leased by a live run, does nothing.
- A prompt request streams the model with `tools.RUN_TOOLS` (no paid tool), persisting the
  text and tool-call pieces as they arrive (at most every FLUSH_S, and at each round's end),
  runs the tools it calls, and stops when the model stops or after MAX_ROUNDS. A prompt
  run that finds itself re-claimed (its first run died mid-stream) fails rather than
  replaying text the client may already hold.
- A plan request never calls the model: it waits for the plan's jobs by re-enqueueing
  itself with a delay (never sleeping in the request) until they are terminal or its
  `wait_until` passes, then attaches each completed job's output once and says so.
- The thread gets the user's prompt and the assistant's reply when the request ends.
- A provider or tool failure ends the request `failed` with {code, message}; nothing it
  did before (assets created) is undone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any, Final

from shared.engine import clock, queue
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.media.jobs import service as media_jobs
from shared.media.studio import llm, workspace
from shared.media.studio.agent import requests, tools
from shared.media.studio.agent.requests import AgentRequest, RequestKind, RequestStatus

log = logging.getLogger(__name__)

TASK_TARGET: Final = queue.Target.STUDIO_AGENT
MAX_ROUNDS: Final = 8
FLUSH_S: Final = 0.2
HISTORY: Final = 20  # earlier thread messages sent as context
POLL_DELAY: Final = dt.timedelta(seconds=2)
SYSTEM_PROMPT: Final = (
    "You are the Killa Tamata Studio assistant. You work inside one project: you can write "
    "text documents and storyboards, list the project's assets, and attach completed media "
    "job outputs to it. Answer briefly."
)
TERMINAL_WORDS: Final = frozenset({"completed", "failed", "cancelled"})


def llm_settings() -> llm.OpenAISettings:
    """The provider's key and base URL, from the one settings object."""
    s = get_settings()
    if not s.openai_api_key.strip():
        raise AppError(ErrorKind.UNAVAILABLE, "llm: OPENAI_API_KEY is not configured")
    return llm.OpenAISettings(api_key=s.openai_api_key, base_url=s.openai_api_base or None)


def enqueue(request_id: str, *, delay: dt.timedelta | None = None, attempt: int = 0) -> None:
    queue.enqueue(
        TASK_TARGET,
        {"request_id": request_id},
        name=f"studio-agent-{request_id}-{attempt}" if delay else None,
        delay=delay,
    )


def run(request_id: str) -> str:
    """Advance one request; answers what happened (for the task's log)."""
    request = requests.claim(request_id)
    if request is None:
        return "nothing to do"
    try:
        if request.kind is RequestKind.PLAN:
            return _run_plan(request)
        if request.attempts > 1:
            raise AppError(ErrorKind.UNAVAILABLE, "agent: the run was interrupted; send again")
        return _run_prompt(request)
    except AppError as exc:
        _fail(request, exc)
        return "failed"
    except Exception:  # a bug in a tool or the loop: fail this request visibly (logged with
        # its traceback) rather than leave it `running` until its lease runs out
        log.exception("studio agent request %s failed", request.id)
        _fail(request, AppError(ErrorKind.INTERNAL, "agent: the run failed"))
        return "failed"


def _fail(request: AgentRequest, exc: AppError) -> None:
    code = "provider_unavailable" if exc.kind is ErrorKind.UNAVAILABLE else exc.kind.value
    requests.finish(
        request.id, status=RequestStatus.FAILED, error={"code": code, "message": exc.message}
    )


class _Transcript:
    """The request's growing text and tool events, flushed to its document."""

    def __init__(self, request: AgentRequest):
        self.id = request.id
        self.text = request.assistant_text
        self.events = list(request.tool_events)
        self.flushed = time.monotonic()
        self.dirty = False

    def add_text(self, piece: str) -> None:
        self.text += piece
        self.dirty = True

    def add_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.dirty = True

    def flush(self, *, force: bool = False) -> None:
        if self.dirty and (force or time.monotonic() - self.flushed >= FLUSH_S):
            requests.save(self.id, {"assistant_text": self.text, "tool_events": self.events})
            self.flushed, self.dirty = time.monotonic(), False


def _history(request: AgentRequest) -> list[dict[str, Any]]:
    thread = workspace.owned_thread(request.account_id, request.thread_id)
    earlier = workspace.messages(thread, limit=HISTORY)
    return [{"role": m.role, "content": m.content} for m in earlier if m.content]


def _run_prompt(request: AgentRequest) -> str:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
    messages += _history(request)
    messages.append({"role": "user", "content": request.prompt})
    out = _Transcript(request)
    try:
        created = _rounds(request, messages, out)
    finally:
        out.flush(force=True)  # what streamed before a failure stays readable
    _conclude(request, out, created)
    return "completed"


def _rounds(request: AgentRequest, messages: list[dict[str, Any]], out: _Transcript) -> list[str]:
    """Stream and run tools until the model stops; answers the assets the tools created."""
    ctx = tools.ToolContext(account_id=request.account_id, project_id=request.project_id)
    created: list[str] = []
    base = 0  # tool-call indexes run on across rounds
    for _ in range(MAX_ROUNDS):
        separator_due = bool(out.text) and not out.text.endswith("\n")
        message: llm.AssistantMessage | None = None
        for delta in llm.stream_chat(
            messages,
            tools.RUN_TOOLS,
            request.agent_model,
            reasoning_level=request.reasoning_level,
            settings=llm_settings(),
        ):
            if isinstance(delta, llm.TextDelta):
                if separator_due:
                    out.add_text("\n\n")
                    separator_due = False
                out.add_text(delta.text)
            elif isinstance(delta, llm.ToolCallDelta):
                out.add_event(
                    {
                        "type": "call",
                        "index": base + delta.index,
                        "id": delta.id,
                        "name": delta.name,
                        "arguments": delta.arguments,
                    }
                )
            else:
                message = delta.message
            out.flush()
        out.flush(force=True)
        if message is None or not message.tool_calls:
            break
        messages.append(message.to_openai())
        for offset, call in enumerate(message.tool_calls):
            result = _call(ctx, call)
            created += [a["assetId"] for a in _assets_of(result)]
            out.add_event({"type": "result", "index": base + offset, **result})
            content = json.dumps(result.get("result") or {"error": result.get("error")})
            messages.append(llm.tool_result_message(tool_call_id=call.id, content=content))
        out.flush(force=True)
        base += len(message.tool_calls)
    return created


def _call(ctx: tools.ToolContext, call: llm.ToolCall) -> dict[str, Any]:
    try:
        return {"status": "completed", "result": tools.execute(ctx, call.name, call.arguments)}
    except AppError as exc:
        if exc.kind in (ErrorKind.UNAVAILABLE, ErrorKind.INTERNAL):
            raise
        return {"status": "failed", "error": exc.message}


def _assets_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    found = result.get("result") or {}
    if "assetId" in found:
        return [found]
    return list(found.get("assets") or []) if "jobId" in found else []


def _conclude(request: AgentRequest, out: _Transcript, created: list[str]) -> None:
    thread = workspace.owned_thread(request.account_id, request.thread_id)
    workspace.append_message(
        thread=thread, role="user", content=request.prompt, request_id=request.id
    )
    calls = [e for e in out.events if e["type"] == "result"]
    workspace.append_message(
        thread=thread, role="assistant", content=out.text, request_id=request.id, tool_calls=calls
    )
    requests.finish(
        request.id,
        status=RequestStatus.COMPLETED,
        extra={"assistant_text": out.text, "tool_events": out.events, "asset_ids": created},
    )


def _run_plan(request: AgentRequest) -> str:
    ctx = tools.ToolContext(account_id=request.account_id, project_id=request.project_id)
    words = {
        job_id: media_jobs.status(
            account_id=request.account_id, job_id=job_id, include_details=False
        )["status"]
        for job_id in request.job_ids
    }
    waiting = [j for j, word in words.items() if word not in TERMINAL_WORDS]
    if waiting and request.wait_until is not None and clock.now() < request.wait_until:
        requests.release(request.id)
        enqueue(request.id, delay=POLL_DELAY, attempt=request.attempts)
        return "waiting for jobs"
    out = _Transcript(request)
    created: list[str] = []
    lines = []
    for index, job_id in enumerate(request.job_ids):
        call = llm.ToolCall(
            id=f"job-{index}", name="attach_job_output", arguments={"jobId": job_id}
        )
        if words[job_id] == "completed":
            out.add_event(
                {
                    "type": "call",
                    "index": index,
                    "id": call.id,
                    "name": call.name,
                    "arguments": json.dumps(call.arguments),
                }
            )
            result = _call(ctx, call)
            out.add_event({"type": "result", "index": index, **result})
            created += [a["assetId"] for a in _assets_of(result)]
            lines.append(f"- Job {index + 1}: done, added to the project's assets.")
        else:
            state = words[job_id] if words[job_id] in TERMINAL_WORDS else "still running"
            lines.append(f"- Job {index + 1}: {state}; nothing was added.")
    out.add_text("\n".join([f"Your approved plan ran {len(request.job_ids)} job(s):", *lines]))
    _conclude(request, out, created)
    return "completed"
