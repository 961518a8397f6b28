"""PicShapes: /api/v1/jobs, /api/v1/jobs/{id}, /api/v1/jobs/{id}/result."""

import uuid

import flask
import functions_framework

from functions.http import entry_point, json_response, parse_body
from functions.pics.site import authenticate, render_error
from shared.engine.errors import AppError, ErrorKind
from shared.pics import service as pics
from shared.pics import views


def _job_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise AppError(ErrorKind.NOT_FOUND, "Job not found", {"code": "JOB_NOT_FOUND"}) from None


def create_job(request: flask.Request) -> flask.Response:
    key = authenticate(request)
    body = parse_body(request, views.CreateJobRequest)
    job = pics.create_job(
        account_id=key.account_id,
        request=body,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return json_response(views.render_job(job), 201)


def get_job(request: flask.Request, job_id: str) -> flask.Response:
    job = pics.get_job(_job_id(job_id))
    return json_response(views.render_job(job))


def get_result(request: flask.Request, job_id: str) -> flask.Response:
    job = pics.get_job(_job_id(job_id))
    body, status = views.render_result(job)
    return json_response(body, status)


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
