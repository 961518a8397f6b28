"""The public endpoint API of the local RunPod control plane (``/v2/<endpoint>/run|runsync|
status|stream|cancel|retry|purge-queue|health``), with RunPod's JSON shapes, status words and
status codes: 401 without the API key, 404 for an unknown endpoint or job, 400 for a body that
does not parse (nothing is queued then).
"""

import time

import flask

from infra.local.runpod.faults import Faults
from infra.local.runpod.plane import ControlPlane
from infra.local.runpod.store import (
    IN_QUEUE,
    RUNSYNC_DEFAULT_WAIT_MS,
    RUNSYNC_MAX_WAIT_MS,
    Endpoint,
)
from infra.local.runpod.wire import error, guard, json_response, parse_submission


def register_client_routes(app: flask.Flask, plane: ControlPlane, faults: Faults) -> None:
    guarded = guard(plane)

    @app.post("/v2/<endpoint_id>/run")
    @guarded
    def run(ep: Endpoint) -> flask.Response:
        try:
            job_input, webhook, execution_timeout, ttl = parse_submission()
        except ValueError as exc:
            return error(400, str(exc))
        job = plane.submit(ep, job_input, webhook, execution_timeout, ttl, sync=False)
        fault = faults.take_run_fault()
        if fault == "land_then_hang":
            time.sleep(faults.hang_s)
        if fault != "ok":
            return error(500, "internal error after queueing (injected)")
        return json_response(200, {"id": job.id, "status": IN_QUEUE})

    @app.post("/v2/<endpoint_id>/runsync")
    @guarded
    def runsync(ep: Endpoint) -> flask.Response:
        try:
            job_input, webhook, execution_timeout, ttl = parse_submission()
            wait_ms = int(flask.request.args.get("wait", RUNSYNC_DEFAULT_WAIT_MS))
        except ValueError as exc:
            return error(400, str(exc))
        wait_ms = min(max(wait_ms, 0), RUNSYNC_MAX_WAIT_MS)
        job = plane.submit(ep, job_input, webhook, execution_timeout, ttl, sync=True)
        return json_response(200, plane.wait_for(ep, job.id, wait_ms / 1000))

    @app.route("/v2/<endpoint_id>/status/<job_id>", methods=["GET", "POST"])
    @guarded
    def status(ep: Endpoint, job_id: str) -> flask.Response:
        fault = faults.status_fault()
        if fault is not None:
            return fault
        body = plane.view(ep, job_id)
        return error(404, "request does not exist") if body is None else json_response(200, body)

    @app.route("/v2/<endpoint_id>/stream/<job_id>", methods=["GET", "POST"])
    @guarded
    def stream(ep: Endpoint, job_id: str) -> flask.Response:
        body = plane.read_stream(ep, job_id)
        return error(404, "request does not exist") if body is None else json_response(200, body)

    @app.post("/v2/<endpoint_id>/cancel/<job_id>")
    @guarded
    def cancel(ep: Endpoint, job_id: str) -> flask.Response:
        fault = faults.status_fault()
        if fault is not None:
            return fault
        body = plane.cancel(ep, job_id)
        return error(404, "request does not exist") if body is None else json_response(200, body)

    @app.post("/v2/<endpoint_id>/retry/<job_id>")
    @guarded
    def retry(ep: Endpoint, job_id: str) -> flask.Response:
        body = plane.retry(ep, job_id)
        if body is None:
            return error(404, "request does not exist")
        return error(400, body) if isinstance(body, str) else json_response(200, body)

    @app.post("/v2/<endpoint_id>/purge-queue")
    @guarded
    def purge_queue(ep: Endpoint) -> flask.Response:
        return json_response(200, plane.purge_queue(ep))

    @app.get("/v2/<endpoint_id>/health")
    @guarded
    def health(ep: Endpoint) -> flask.Response:
        return json_response(200, plane.health(ep))
