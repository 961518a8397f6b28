"""Killa Tamata: POST and GET /api/v1/media/jobs (submit a media job, read its status).

Request bodies may carry inline media (base64 images and audio), so this route group
takes bodies up to MAX_BODY_BYTES (Cloud Run's HTTP/1 request limit is 32 MiB).
"""

from __future__ import annotations

import flask
import functions_framework

from functions.http import entry_point, json_response, parse_json
from functions.media.site import authenticate, render_error
from shared.engine import identity
from shared.engine.errors import AppError, ErrorKind
from shared.media.jobs import completion as _completion  # noqa: F401 (registers the collector)
from shared.media.jobs import service

MAX_BODY_BYTES = 32 * 1024 * 1024


def submit(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    body = parse_json(request)
    raw_key = identity.bearer_token(request.headers.get("Authorization"))
    answer = service.submit(
        account_id=caller.account_id,
        api_key=raw_key if caller.key is not None else None,
        body=body,
    )
    return json_response(answer, 201)


def status(request: flask.Request) -> flask.Response:
    caller = authenticate(request)
    job_id = request.args.get("jobId", "")
    if not job_id:
        raise AppError(ErrorKind.INVALID, "jobId is required")
    details = request.args.get("includeDetails", "false").lower()
    if details not in ("true", "false", "1", "0"):
        raise AppError(ErrorKind.INVALID, "includeDetails must be true or false")
    answer = service.status(
        account_id=caller.account_id, job_id=job_id, include_details=details in ("true", "1")
    )
    return json_response(answer)


_handle = entry_point(
    [("POST", "/api/v1/media/jobs", submit), ("GET", "/api/v1/media/jobs", status)],
    render_error,
    max_body_bytes=MAX_BODY_BYTES,
)


@functions_framework.http
def media_jobs(request: flask.Request) -> flask.Response:
    return _handle(request)
