"""PicShapes: /api/v1/jobs, /api/v1/jobs/{id}, /api/v1/jobs/{id}/result."""

import uuid

import flask
import functions_framework

from functions.http import entry_point, json_response, parse_body
from functions.pics.site import authenticate, render_error
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobState
from shared.pics import service as pics


def _job_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise AppError(ErrorKind.NOT_FOUND, "Job not found", {"code": "JOB_NOT_FOUND"}) from None


def create_job(request: flask.Request) -> flask.Response:
    key = authenticate(request)
    body = parse_body(request, pics.CreateJobRequest)
    job = pics.create_job(account_id=key.account_id, request=body)
    return json_response(pics.render_job(job), 201)


def get_job(request: flask.Request, job_id: str) -> flask.Response:
    job = pics.get_job(_job_id(job_id))
    return json_response(pics.render_job(job))


def get_result(request: flask.Request, job_id: str) -> flask.Response:
    job = pics.get_job(_job_id(job_id))
    url = pics.result_url(job)
    if url:
        return json_response({"result_url": url})
    if job.state is JobState.COMPLETED:
        message = "Result has expired"
    elif job.terminal:
        message = f"Job failed: {job.error or 'unknown error'}"
    else:
        message = "Job is not completed yet"
    return json_response({"status": pics.STATUS_WORDS[job.state], "message": message}, 202)


_handle = entry_point(
    [
        ("POST", "/api/v1/jobs", create_job),
        ("GET", "/api/v1/jobs/<job_id>", get_job),
        ("GET", "/api/v1/jobs/<job_id>/result", get_result),
    ],
    render_error,
)


@functions_framework.http
def pics_jobs(request: flask.Request) -> flask.Response:
    return _handle(request)
