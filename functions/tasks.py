"""Cloud Tasks targets: dispatch a job, sweep overdue work.

Each answers 2xx when there is nothing (more) to do, so Cloud Tasks stops retrying, and
5xx only when a retry could help (the backend is unavailable). Both are idempotent: a
redelivered task finds the job already moved (dispatch) or nothing left to do (sweep).
The site packages are imported here so that their sweep hooks register
(shared.engine.sweeps); the engine itself imports no site.
"""

import flask
import functions_framework
from pydantic import BaseModel

from functions.http import entry_point, json_response, parse_body
from functions.internal import render_error, require_task, task_attempt
from shared import grid, market, media, pics
from shared.engine import dispatch
from shared.engine.queue import Target
from shared.engine.validate import DocId

# Imported for their side effect: each site package registers its sweep hooks.
SITES_WITH_SWEEP_WORK = (grid, market, media, pics)


class DispatchTask(BaseModel):
    job_id: DocId


def run_dispatch(request: flask.Request) -> flask.Response:
    require_task(request, Target.DISPATCH)
    task = parse_body(request, DispatchTask)
    outcome = dispatch.dispatch(task.job_id, attempt=task_attempt(request))
    return json_response({"job_id": task.job_id, "outcome": outcome})


def run_sweep(request: flask.Request) -> flask.Response:
    require_task(request, Target.SWEEP)
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
