"""Test-only knobs of the local RunPod control plane (no hosted counterpart): fault injection
(``POST /_test/faults``) and a list of every job an endpoint knows
(``GET /v2/<endpoint>/_test/jobs``). Both need the API key like every other route.
"""

import threading
import time
from dataclasses import dataclass, field

import flask

from infra.local.runpod.plane import ControlPlane
from infra.local.runpod.store import Endpoint
from infra.local.runpod.wire import error, guard, json_response


@dataclass
class Faults:
    """Test-only fault injection (`POST /_test/faults`): hosted RunPod's bad days, on demand.

    `status`: "ok" | "error" (503) | "hang" (no answer for `hang_s`, then 503), for the
    status and cancel routes. `run`: "ok" | "land_then_error" | "land_then_hang": /run
    queues the job, then answers 500 (or hangs first), `run_times` times.
    """

    status: str = "ok"
    run: str = "ok"
    run_times: int = 0
    hang_s: float = 30.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_run_fault(self) -> str:
        with self.lock:
            if self.run == "ok" or self.run_times <= 0:
                return "ok"
            self.run_times -= 1
            return self.run

    def status_fault(self) -> flask.Response | None:
        """The injected answer for a status or cancel call, if any (after hanging if asked)."""
        if self.status == "hang":
            time.sleep(self.hang_s)
        if self.status in ("error", "hang"):
            return error(503, "upstream unavailable (injected)")
        return None


def register_test_routes(app: flask.Flask, plane: ControlPlane, faults: Faults) -> None:
    guarded = guard(plane)

    @app.post("/_test/faults")
    def set_faults() -> flask.Response:
        if not plane.check_key(flask.request.headers.get("Authorization")):
            return error(401, "Unauthorized")
        body = flask.request.get_json(silent=True) or {}
        with faults.lock:
            faults.status = str(body.get("status", "ok"))
            faults.run = str(body.get("run", "ok"))
            faults.run_times = int(body.get("run_times", 1 if faults.run != "ok" else 0))
            faults.hang_s = float(body.get("hang_s", 30.0))
        return json_response(200, {"status": faults.status, "run": faults.run})

    @app.get("/v2/<endpoint_id>/_test/jobs")
    @guarded
    def list_jobs(ep: Endpoint) -> flask.Response:
        """Every job the endpoint knows (hosted RunPod has no such list)."""
        with plane.cond:
            listed = [
                {"id": j.id, "status": j.status, "webhook": j.webhook, "input": j.input}
                for j in ep.jobs.values()
            ]
        return json_response(200, {"jobs": listed})
