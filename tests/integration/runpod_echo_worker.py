"""A real, unmodified RunPod serverless worker used by the local control-plane tests.

Run with the env from ``infra.local.runpod_server.worker_env``; the SDK's own worker loop does the
job-take / job-done / ping / job-stop traffic. The handler understands these input keys:

* ``sleep``: seconds to ``await`` first (async, so the SDK can stop the job mid-way);
* ``sleep_once``: like ``sleep`` but only while the file named by ``marker`` does not exist yet
  (it is created first), so a retried job finishes quickly the second time;
* ``raise``: raise ``RuntimeError`` with this message (the SDK reports it as a job error);
* ``return_error``: return ``{"error": ...}`` (the other documented way to fail a job).

Otherwise it returns ``{"echo": <input>, "worker_id": <RUNPOD_POD_ID>}``. If ``ECHO_WORKER_LOG``
is set, every handler start is appended to it as a JSON line so tests can count executions.
"""

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import runpod


def _record(job_id: str) -> None:
    path = os.environ.get("ECHO_WORKER_LOG")
    if not path:
        return
    line = json.dumps({"job": job_id, "worker": os.environ.get("RUNPOD_POD_ID")}) + "\n"
    # One small O_APPEND write per line keeps lines from concurrent workers whole.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    job_input = job.get("input") or {}
    _record(job["id"])
    if job_input.get("sleep"):
        await asyncio.sleep(float(job_input["sleep"]))
    if job_input.get("sleep_once"):
        marker = Path(job_input["marker"])
        if not marker.exists():
            marker.touch()
            await asyncio.sleep(float(job_input["sleep_once"]))
    if job_input.get("raise"):
        raise RuntimeError(str(job_input["raise"]))
    if job_input.get("return_error"):
        return {"error": str(job_input["return_error"])}
    return {"echo": job_input, "worker_id": os.environ.get("RUNPOD_POD_ID")}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
