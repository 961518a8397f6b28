"""Vibe Earning: /api/v1/jobs and its sub-resources."""

import flask
import functions_framework

from functions.grid.site import authenticate, render_error, render_submit_error
from functions.http import client_network, entry_point, json_response, parse_body
from shared.engine import idempotency, ratelimit, validate
from shared.engine.errors import AppError, ErrorKind
from shared.grid import jobs, views

MAX_OFFSET = 100_000
STATUSES = {"pending", "claimed", "running", "completed", "failed", "cancelled"}


def _idempotency_key(request: flask.Request) -> str | None:
    """The engine's key rule, checked before the quota counts the request; its INVALID
    renders as the document's 422 `{"errors": [...]}` (render_submit_error)."""
    raw = request.headers.get("Idempotency-Key")
    return None if raw is None else idempotency.validate_key(raw)


def list_jobs(request: flask.Request) -> flask.Response:
    key, _ = authenticate(request)
    args = request.args
    status = args.get("status")
    if status is not None and status not in STATUSES:
        raise AppError(ErrorKind.INVALID, "status is not a job status")
    # The document sets no bounds: a negative offset reads as 0, a huge one as the end.
    offset = validate.query_int(
        args.get("offset"), name="offset", default=0, minimum=-validate.MAX_INT, maximum=MAX_OFFSET
    )
    found = jobs.list_jobs(
        account_id=key.account_id,
        status=status,
        model=args.get("model"),
        tag=args.get("tag"),
        start=validate.query_moment(args.get("from"), name="from"),
        end=validate.query_moment(args.get("to"), name="to"),
        offset=max(offset, 0),
    )
    return json_response([views.job(job) for job in found])


def submit(request: flask.Request) -> flask.Response:
    key, secret = authenticate(request)
    body = parse_body(request, views.JobCreateRequest)
    if body.priority_boost:
        # A boost creates a Stripe Checkout session: the checkout budget, as on Killa Tamata.
        ratelimit.limit("checkout", network=client_network(request), account_id=key.account_id)
    job = jobs.submit(
        account_id=key.account_id,
        api_key=secret,
        request=body,
        idempotency_key=_idempotency_key(request),
    )
    return json_response(views.job(job), 201)


def get_job(request: flask.Request, job_id: int) -> flask.Response:
    key, _ = authenticate(request)
    return json_response(views.job(jobs.get_owned(account_id=key.account_id, grid_id=job_id)))


def cancel(request: flask.Request, job_id: int) -> flask.Response:
    key, _ = authenticate(request)
    job = jobs.get_owned(account_id=key.account_id, grid_id=job_id)
    jobs.cancel(job)
    return json_response({"status": "cancelled"})


def cancel_all(request: flask.Request) -> flask.Response:
    key, _ = authenticate(request)
    return json_response({"cancelled": jobs.cancel_all(account_id=key.account_id)})


def priority(request: flask.Request, job_id: int) -> flask.Response:
    key, _ = authenticate(request)
    body = parse_body(request, views.PriorityChange)
    job = jobs.get_owned(account_id=key.account_id, grid_id=job_id)
    return json_response({"priority": jobs.change_priority(job, body.priority)})


def retry(request: flask.Request, job_id: int) -> flask.Response:
    key, _ = authenticate(request)
    job = jobs.get_owned(account_id=key.account_id, grid_id=job_id)
    return json_response(views.job(jobs.retry(job)))


_handle = entry_point(
    [
        ("GET", "/api/v1/jobs", list_jobs),
        ("POST", "/api/v1/jobs", submit, render_submit_error),
        ("DELETE", "/api/v1/jobs/cancel_all", cancel_all),
        ("GET", "/api/v1/jobs/<int:job_id>", get_job),
        ("DELETE", "/api/v1/jobs/<int:job_id>", cancel),
        ("PATCH", "/api/v1/jobs/<int:job_id>/priority", priority),
        ("POST", "/api/v1/jobs/<int:job_id>/retry", retry),
    ],
    render_error,
)


@functions_framework.http
def grid_jobs(request: flask.Request) -> flask.Response:
    return _handle(request)
