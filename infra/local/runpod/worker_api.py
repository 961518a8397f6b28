"""The worker protocol of the local RunPod control plane: what an unmodified
``runpod.serverless.start(...)`` process (runpod 1.12) polls and posts to, and
:func:`worker_env`, the environment that points such a worker here.

``job-take`` and ``job-stop`` long-poll and answer 204 when there is nothing; ``job-done`` and
``job-stream`` answer 200 even for a job that is no longer the worker's (so the SDK does not
retry) and 400 for a body that is not a JSON object; ``ping`` is the worker's heartbeat.
"""

import flask

from infra.local.runpod.plane import ControlPlane
from infra.local.runpod.store import MAX_BATCH_SIZE, Endpoint
from infra.local.runpod.wire import error, guard, json_response, parse_worker_body


def register_worker_routes(app: flask.Flask, plane: ControlPlane) -> None:
    guarded = guard(plane)

    def job_take(ep: Endpoint, worker_id: str, batch: bool) -> flask.Response:
        args = flask.request.args
        try:
            size = int(args.get("batch_size", "1")) if batch else 1
        except ValueError:
            return error(400, "batch_size must be an integer")
        jobs = plane.take_jobs(
            ep,
            worker_id,
            min(max(size, 1), MAX_BATCH_SIZE),
            job_in_progress=args.get("job_in_progress") == "1",
        )
        if not jobs:
            # The SDK reads 204 as "no job" and immediately polls again.
            return flask.Response(status=204)
        return json_response(200, jobs if batch else jobs[0])

    @app.get("/v2/<endpoint_id>/job-take/<worker_id>")
    @guarded
    def job_take_single(ep: Endpoint, worker_id: str) -> flask.Response:
        return job_take(ep, worker_id, batch=False)

    @app.get("/v2/<endpoint_id>/job-take-batch/<worker_id>")
    @guarded
    def job_take_batch(ep: Endpoint, worker_id: str) -> flask.Response:
        return job_take(ep, worker_id, batch=True)

    @app.get("/v2/<endpoint_id>/job-stop/<worker_id>")
    @guarded
    def job_stop(ep: Endpoint, worker_id: str) -> flask.Response:
        signals = plane.take_stop_signals(ep, worker_id)
        if not signals:
            return flask.Response(status=204)
        return json_response(200, {"jobsToStop": signals})

    @app.post("/v2/<endpoint_id>/job-done/<worker_id>/<job_id>")
    @guarded
    def job_done(ep: Endpoint, worker_id: str, job_id: str) -> flask.Response:
        try:
            result = parse_worker_body()
        except ValueError as exc:
            return error(400, f"bad result body: {exc}")
        return json_response(*plane.job_done(ep, worker_id, job_id, result))

    @app.post("/v2/<endpoint_id>/job-stream/<worker_id>/<job_id>")
    @guarded
    def job_stream(ep: Endpoint, worker_id: str, job_id: str) -> flask.Response:
        try:
            chunk = parse_worker_body()
        except ValueError as exc:
            return error(400, f"bad stream body: {exc}")
        return json_response(*plane.job_stream(ep, worker_id, job_id, chunk))

    @app.get("/v2/<endpoint_id>/ping/<worker_id>")
    @guarded
    def ping(ep: Endpoint, worker_id: str) -> flask.Response:
        args = flask.request.args
        job_ids = {j for j in ",".join(args.getlist("job_id")).split(",") if j}
        plane.ping(
            ep,
            worker_id,
            job_ids,
            args.get("runpod_version"),
            unhealthy=args.get("status") == "unhealthy",
        )
        return json_response(200, {})


def worker_env(
    base_url: str,
    endpoint_id: str,
    api_key: str,
    worker_id: str,
    *,
    ping_interval_ms: int = 5000,
    skip_fitness_checks: bool = True,
) -> dict[str, str]:
    """Env vars that point a real ``runpod.serverless.start`` worker at this server.

    The placeholders are left for the SDK to substitute, as on hosted RunPod: ``$ID`` in the
    job-take URL is the worker id, in the job-done/stream URLs it is the job id, and
    ``$RUNPOD_POD_ID`` is the worker id. Each URL already carries a query string because the SDK
    appends ``&job_in_progress=``/``&isStream=``/``&batch_size=`` without a ``?``.

    Callers may add ``RUNPOD_LOG_LEVEL`` (the SDK defaults to DEBUG). Note the SDK prefers an
    ``api_key`` from ``~/.runpod/config.toml`` over ``RUNPOD_AI_API_KEY`` for job traffic, so
    point ``HOME`` elsewhere if that file may exist.
    """
    if ping_interval_ms < 1000:
        # The SDK sleeps interval // 1000 seconds: below 1 s it would ping in a tight loop.
        raise ValueError("ping_interval_ms must be at least 1000")
    v2 = f"{base_url.rstrip('/')}/v2/{endpoint_id}"
    env = {
        "RUNPOD_WEBHOOK_GET_JOB": f"{v2}/job-take/$ID?gpu=local",
        "RUNPOD_WEBHOOK_POST_OUTPUT": f"{v2}/job-done/$RUNPOD_POD_ID/$ID?gpu=local",
        "RUNPOD_WEBHOOK_POST_STREAM": f"{v2}/job-stream/$RUNPOD_POD_ID/$ID?gpu=local",
        "RUNPOD_WEBHOOK_PING": f"{v2}/ping/$RUNPOD_POD_ID?gpu=local",
        "RUNPOD_PING_INTERVAL": str(ping_interval_ms),
        "RUNPOD_AI_API_KEY": api_key,
        "RUNPOD_POD_ID": worker_id,
        "RUNPOD_POD_HOSTNAME": worker_id,
        "RUNPOD_ENDPOINT_ID": endpoint_id,
    }
    if skip_fitness_checks:
        # The SDK's start-up fitness checks os._exit(1) the worker when they fail; the system set
        # needs 4 GB free RAM and a TCP connection to 8.8.8.8:53, which offline CI does not have.
        env["RUNPOD_SKIP_AUTO_SYSTEM_CHECKS"] = "true"
        env["RUNPOD_SKIP_GPU_CHECK"] = "true"
    return env
