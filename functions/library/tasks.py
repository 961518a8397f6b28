"""Cloud Tasks target of the library: run a queued scan (shared/library/scan.py).

Idempotent: a redelivered task finds its scan done and answers 200 without scanning again
(and a scan is incremental anyway, so a second run only re-checks the listing).
"""

import flask
import functions_framework
from pydantic import BaseModel, Field

from functions.http import entry_point, json_response, parse_body
from functions.internal import render_error, require_task
from shared.engine.queue import Target
from shared.library import scan


class ScanTask(BaseModel):
    scanId: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    under: str = Field("", max_length=1000)


def run_scan(request: flask.Request) -> flask.Response:
    require_task(request, Target.SCAN)
    task = parse_body(request, ScanTask)
    return json_response(scan.public(scan.run_task(scan_id=task.scanId, under=task.under)))


_scan = entry_point(
    [("POST", "/", run_scan), ("POST", "/task_library_scan", run_scan)], render_error
)


@functions_framework.http
def task_library_scan(request: flask.Request) -> flask.Response:
    return _scan(request)
