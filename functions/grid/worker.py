"""Vibe Earning: every /api/v1/worker/* operation."""

import flask
import functions_framework

from functions.grid.site import authenticate, authenticate_worker, render_error
from functions.http import entry_point, json_response, parse_body, parse_optional_body
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.grid import credits, views, work, workers


def register(request: flask.Request) -> flask.Response:
    key, secret = authenticate(request, worker_route=True)
    body = parse_body(request, views.RegisterRequest)
    worker = workers.register(key=key, request=body, key_worker_id=key.worker_id)
    return json_response({"worker_token": secret, "worker_id": worker.id}, 201)


def heartbeat(request: flask.Request) -> flask.Response:
    workers.heartbeat(authenticate_worker(request).id)
    return json_response({"status": "ok"})


def update_models(request: flask.Request) -> flask.Response:
    worker = authenticate_worker(request)
    body = parse_body(request, views.ModelsUpdate)
    count = workers.update_models(worker.id, body.models)
    return json_response({"status": "updated", "model_count": count})


def _flag(raw: str | None) -> bool:
    if raw is None:
        return False
    if raw.lower() not in {"true", "false", "1", "0"}:
        raise AppError(ErrorKind.INVALID, "catch_all must be true or false")
    return raw.lower() in {"true", "1"}


def next_job(request: flask.Request) -> flask.Response:
    worker = authenticate_worker(request)
    # The poll narrows what the registration serves; every poll is an implicit heartbeat.
    models = set(request.args.getlist("models[]")) | set(request.args.getlist("models"))
    families = set(request.args.getlist("families[]")) | set(request.args.getlist("families"))
    job = work.claim_next(
        worker=worker,
        models=models,
        families=families,
        catch_all=_flag(request.args.get("catch_all")),
        wait_s=get_settings().grid_poll_wait_s,
    )
    if job is None:
        return flask.Response(status=204)
    return json_response(views.assignment(job))


def start(request: flask.Request, job_id: int) -> flask.Response:
    work.start(worker=authenticate_worker(request), grid_id=job_id)
    return json_response({"status": "running"})


def result(request: flask.Request, job_id: int) -> flask.Response:
    worker = authenticate_worker(request)
    body = parse_body(request, views.ResultRequest)
    work.submit_result(worker=worker, grid_id=job_id, result=body)
    return json_response({"status": "accepted"})


def fail(request: flask.Request, job_id: int) -> flask.Response:
    worker = authenticate_worker(request)
    body = parse_optional_body(request, views.FailRequest)  # the document makes it optional
    return json_response({"status": work.fail(worker=worker, grid_id=job_id, error=body.error)})


def credit_summary(request: flask.Request) -> flask.Response:
    return json_response(views.credit_summary(credits.summary(authenticate_worker(request))))


def payout(request: flask.Request) -> flask.Response:
    return json_response(views.payout(credits.request_payout(authenticate_worker(request))), 201)


_handle = entry_point(
    [
        ("POST", "/api/v1/worker/register", register),
        ("PATCH", "/api/v1/worker/heartbeat", heartbeat),
        ("PATCH", "/api/v1/worker/models", update_models),
        ("GET", "/api/v1/worker/jobs/next", next_job),
        ("PATCH", "/api/v1/worker/jobs/<int:job_id>/start", start),
        ("POST", "/api/v1/worker/jobs/<int:job_id>/result", result),
        ("POST", "/api/v1/worker/jobs/<int:job_id>/fail", fail),
        ("GET", "/api/v1/worker/credits", credit_summary),
        ("POST", "/api/v1/worker/payout_request", payout),
    ],
    render_error,
)


@functions_framework.http
def grid_worker(request: flask.Request) -> flask.Response:
    return _handle(request)
