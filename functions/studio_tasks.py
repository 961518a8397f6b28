"""Cloud Tasks target for the Studio agent loop (`studio_agent_task`).

Answers 2xx whenever the request is advanced, finished or already done (a redelivered task
does nothing: the loop leases its request), so Cloud Tasks stops retrying; the loop
records its own failures on the request.
"""

import flask
import functions_framework
from pydantic import BaseModel

from functions.http import entry_point, json_response, parse_body
from functions.internal import render_error, require_task
from shared.engine.queue import Target
from shared.engine.validate import DocId
from shared.media.studio.agent import runner


class AgentTask(BaseModel):
    request_id: DocId


def run_agent(request: flask.Request) -> flask.Response:
    require_task(request, Target.STUDIO_AGENT)
    task = parse_body(request, AgentTask)
    return json_response({"request_id": task.request_id, "outcome": runner.run(task.request_id)})


_handle = entry_point(
    [("POST", "/", run_agent), ("POST", f"/{runner.TASK_TARGET}", run_agent)], render_error
)


@functions_framework.http
def studio_agent_task(request: flask.Request) -> flask.Response:
    return _handle(request)
