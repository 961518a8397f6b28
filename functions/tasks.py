"""Cloud Tasks targets: dispatch a job, sweep overdue work.

Each answers 2xx when there is nothing (more) to do, so Cloud Tasks stops retrying, and
5xx only when a retry could help (the backend is unavailable).
"""

import flask
import functions_framework
from pydantic import BaseModel

from functions.http import entry_point, json_response, parse_body
from functions.internal import render_error, require_task_secret, task_attempt
from shared.engine import dispatch


class DispatchTask(BaseModel):
    job_id: str


def run_dispatch(request: flask.Request) -> flask.Response:
    require_task_secret(request)
    task = parse_body(request, DispatchTask)
    outcome = dispatch.dispatch(task.job_id, attempt=task_attempt(request))
    return json_response({"job_id": task.job_id, "outcome": outcome})


def run_sweep(request: flask.Request) -> flask.Response:
    require_task_secret(request)
    return json_response(dispatch.sweep())


_dispatch = entry_point(
    [("POST", "/", run_dispatch), ("POST", "/task_dispatch", run_dispatch)], render_error
)
_sweep = entry_point([("POST", "/", run_sweep), ("POST", "/task_sweep", run_sweep)], render_error)


@functions_framework.http
def task_dispatch(request: flask.Request) -> flask.Response:
    return _dispatch(request)


@functions_framework.http
def task_sweep(request: flask.Request) -> flask.Response:
    return _sweep(request)
