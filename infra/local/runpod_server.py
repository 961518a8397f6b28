"""A faithful local stand-in for RunPod's hosted serverless control plane.

RunPod ships no local form of its hosted queue: the SDK's ``--rp_serve_api`` test server runs the
handler in-process, does nothing on ``/run`` until ``/status`` is polled, and posts webhooks
without ``id``/``status``. This module instead reimplements the two HTTP surfaces the hosted
platform exposes, so that production code and real workers run against it unchanged:

* the **client API** (``/v2/<endpoint>/run|runsync|status|stream|cancel|retry|purge-queue|
  health``), with RunPod's JSON shapes and status words, so our plain-HTTP RunPod client only
  needs a different base URL;
* the **worker API** that an unmodified ``runpod.serverless.start(...)`` process (runpod 1.12)
  talks to, reached through the env vars returned by :func:`worker_env`:
  ``GET  /v2/<ep>/job-take/<worker>?gpu=local&job_in_progress=0|1``          -> 200 job | 204
  ``GET  /v2/<ep>/job-take-batch/<worker>?...&batch_size=N``                -> 200 [jobs] | 204
  ``GET  /v2/<ep>/job-stop/<worker>?...``                   -> 200 {"jobsToStop": [...]} | 204
  ``POST /v2/<ep>/job-done/<worker>/<job>?gpu=local&isStream=true|false``   (JSON body)
  ``POST /v2/<ep>/job-stream/<worker>/<job>?gpu=local&isStream=false``      (JSON body)
  ``GET  /v2/<ep>/ping/<worker>?gpu=local&job_id=a,b&runpod_version=...``

What the server guarantees:

* Every call needs the configured API key, as ``Authorization: Bearer <key>`` or the raw key
  (the worker SDK sends it raw); otherwise 401. Unknown endpoint id -> 404. Bad JSON or a
  missing ``input`` -> 400.
* Jobs of an endpoint are handed out FIFO, each to exactly one worker at a time. A job-take
  long-polls (``long_poll_s``) so queued work starts without polling latency.
* A job's result is accepted once, and only from the worker it was assigned to; results for
  jobs that were cancelled, timed out or reassigned are acknowledged (200) and ignored. A result
  with a truthy ``error`` (what the SDK posts when the handler raises or returns ``{"error"}``)
  makes the job FAILED, anything else COMPLETED.
* ``/status`` always carries ``id``, ``status``, ``delayTime`` and ``executionTime`` (integer ms,
  running totals while unfinished), plus ``workerId`` once assigned, ``output`` when the worker
  returned one and ``error`` when it failed.
* ``/health`` counts live workers only: ``running`` holds a job, ``idle`` has polled and holds
  none, ``initializing`` has pinged but not polled yet, ``unhealthy`` reported a failed fitness
  check; ``ready`` = idle + running, ``throttled`` is always 0. ``jobs.failed`` counts FAILED
  and TIMED_OUT.
* ``executionTimeout`` (default 600 000 ms, as hosted) turns an IN_PROGRESS job into TIMED_OUT;
  ``ttl`` (default 24 h) turns any unfinished job into TIMED_OUT (hosted deletes it instead; a
  terminal status is kinder to tests). Both send the worker a stop signal through the SDK's
  job-stop channel, like cancellation of an in-progress job does, and repeat it while the
  worker's heartbeat still lists the job (the SDK drops a signal that arrives before the job's
  task exists). Only ``async`` handlers can be interrupted: a blocking handler holds the SDK's
  event loop, so it runs to the end and its result is ignored.
* A worker is live while it has a request open or has been heard from within ``worker_ttl_s``
  (job polls and its heartbeat ping both count). Jobs held by a worker that goes silent are
  requeued at the head of the queue (``retried`` in /health) up to ``max_worker_loss_retries``
  times, then FAILED.
* Completion webhook: when a job reaches COMPLETED, FAILED or TIMED_OUT and was submitted with a
  ``webhook``, the exact object ``/status/<id>`` returns at that moment is POSTed to it as JSON,
  from a background thread, in up to 3 attempts (any 2xx ends it; hosted RunPod also makes 3
  attempts but 10 s apart, here the delays default to 1 s and 2 s). CANCELLED jobs get no
  webhook: only the caller can cancel, so it already knows. TIMED_OUT does fire one because
  nobody else would tell the caller (hosted docs only promise a call "when jobs complete").
* Finished jobs stay readable for 30 min (``/run``) or 1 min (``/runsync``) like hosted RunPod,
  then ``/status`` returns 404.

All state is in memory behind one lock: this stands in for the hosted control plane in tests and
local development, it is not durable.

Run it with ``python -m infra.local.runpod_server --port 8189 --api-key K --endpoints a,b``.
The pieces live in ``infra/local/runpod/``: job, worker and endpoint state in store.py, the
queue and worker registry in plane.py, webhooks in webhooks.py, the endpoint API in routes.py,
the worker protocol in worker_api.py, the ``/_test/...`` knobs in faults.py.
"""

import argparse
import sys
from collections.abc import Sequence

import flask

from infra.local.runpod.faults import Faults, register_test_routes
from infra.local.runpod.plane import ControlPlane as ControlPlane
from infra.local.runpod.routes import register_client_routes
from infra.local.runpod.store import EXTENSION_KEY as EXTENSION_KEY
from infra.local.runpod.store import ServerConfig as ServerConfig
from infra.local.runpod.wire import error
from infra.local.runpod.worker_api import register_worker_routes
from infra.local.runpod.worker_api import worker_env as worker_env
from infra.local.serving import configure_logging, parse_delays, serve_until_signalled


def create_app(
    api_key: str, endpoints: list[str], config: ServerConfig | None = None
) -> flask.Flask:
    """Build the WSGI app; its :class:`ControlPlane` is ``app.extensions["relay_runpod_local"]``.

    Call ``plane.close()`` when done to stop its reaper thread and release held long-polls.
    """
    plane = ControlPlane(api_key, endpoints, config)
    app = flask.Flask(__name__)
    app.extensions[EXTENSION_KEY] = plane
    faults = Faults()
    register_client_routes(app, plane, faults)
    register_test_routes(app, plane, faults)
    register_worker_routes(app, plane)

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> flask.Response:
        return error(404, "not found")

    @app.errorhandler(405)
    def method_not_allowed(_exc: Exception) -> flask.Response:
        return error(405, "method not allowed")

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.runpod_server",
        description="Local RunPod serverless control plane (client + worker APIs).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8189, help="0 picks a free port")
    parser.add_argument("--api-key", required=True)
    parser.add_argument(
        "--endpoints", required=True, help="comma-separated endpoint ids, e.g. z-image-turbo,flux"
    )
    defaults = ServerConfig()
    parser.add_argument("--long-poll-s", type=float, default=defaults.long_poll_s)
    parser.add_argument("--worker-ttl-s", type=float, default=defaults.worker_ttl_s)
    parser.add_argument(
        "--execution-timeout-ms", type=int, default=defaults.default_execution_timeout_ms
    )
    parser.add_argument("--ttl-ms", type=int, default=defaults.default_ttl_ms)
    parser.add_argument(
        "--webhook-retry-delays",
        type=parse_delays,
        default=defaults.webhook_retry_delays,
        help="comma-separated seconds between webhook attempts (default 1,2 = 3 attempts)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    configure_logging(access_log=args.access_log)

    config = ServerConfig(
        long_poll_s=args.long_poll_s,
        worker_ttl_s=args.worker_ttl_s,
        default_execution_timeout_ms=args.execution_timeout_ms,
        default_ttl_ms=args.ttl_ms,
        webhook_retry_delays=args.webhook_retry_delays,
    )
    endpoints = [ep.strip() for ep in args.endpoints.split(",") if ep.strip()]
    app = create_app(args.api_key, endpoints, config)
    plane: ControlPlane = app.extensions[EXTENSION_KEY]
    return serve_until_signalled(
        app,
        host=args.host,
        port=args.port,
        name="runpod-local",
        close=plane.close,
        banner=f" endpoints={','.join(endpoints)}",
    )


if __name__ == "__main__":
    sys.exit(main())
