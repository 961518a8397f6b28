"""Killa Tamata Studio agent: /api/v1/studio/agent/** (prepare, send, execute a plan, poll).

Each route parses, authenticates, makes one call into shared/media/studio/agent/service.py
and renders; the agent loop itself runs in the `studio_agent_task` Cloud Task.
"""

from __future__ import annotations

import flask
import functions_framework

from functions.http import entry_point, json_response, parse_body
from functions.media.site import authenticate, render_error
from shared.engine import validate
from shared.engine.errors import AppError, ErrorKind
from shared.media.studio.agent import service

BASE = "/api/v1/studio/agent"


def prepare(request: flask.Request) -> flask.Response:
    body = parse_body(request, service.AgentPrompt)
    caller = authenticate(request)
    return json_response(service.prepare(account_id=caller.account_id, body=body))


def send(request: flask.Request) -> flask.Response:
    body = parse_body(request, service.AgentPrompt)
    caller = authenticate(request)
    return json_response(service.send(account_id=caller.account_id, body=body), 202)


def execute(request: flask.Request) -> flask.Response:
    body = parse_body(request, service.PlanExecute)
    caller = authenticate(request)
    answer, status = service.execute(account_id=caller.account_id, body=body)
    return json_response(answer, status)


def request_state(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    request_id = request.args.get("requestId", "")
    if not request_id:
        raise AppError(ErrorKind.INVALID, "requestId: is required")
    assistant = validate.query_int(
        request.args.get("assistantOffset"), name="assistantOffset", default=0, minimum=0
    )
    tool_calls = validate.query_int(
        request.args.get("toolCallOffset"), name="toolCallOffset", default=0, minimum=0
    )
    answer = service.state(
        account_id=caller.account_id,
        request_id=request_id,
        assistant_offset=assistant,
        tool_call_offset=tool_calls,
    )
    return json_response(answer)


_handle = entry_point(
    [
        ("POST", f"{BASE}/messages/prepare", prepare),
        ("POST", f"{BASE}/messages", send),
        ("POST", f"{BASE}/approval-plans/execute", execute),
        ("GET", f"{BASE}/requests", request_state),
    ],
    render_error,
)


@functions_framework.http
def media_studio_agent(request: flask.Request) -> flask.Response:
    return _handle(request)
