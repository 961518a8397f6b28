"""A job's life, step by step: where the time between submit and "completed" goes.

Starts its own stack on free ports with the workers the chosen sites need (the real RunPod
worker loop with tiny weights for pics and media; the grid agent for grid), then per site
runs `--jobs` jobs one after another (after `--warm` unmeasured ones), each submitted over
HTTP and polled every `--poll-ms` until it reads completed. Each job's life is then split
into its steps from the structured logs alone (the gateway's JSON lines, joined by job id
and request id; RunPod's own `delayTime`/`executionTime` from the completion report):

RunPod-backed sites (pics, media):
- submit: the POST's own latency, as the gateway logged it;
- task queued -> run: submit answered until the dispatch task starts (Cloud Tasks);
- dispatch + /run: the dispatch task until RunPod's /run answered;
- worker pickup: RunPod's delayTime (queued on RunPod until a worker took it);
- handler: RunPod's executionTime (the run on the worker, model included);
- completion webhook: the worker's result until our callback starts;
- callback + settle: the callback until the job's COMPLETED commit;
- visible: that commit until the polling client saw `completed`.

Grid (workers pull): submit; queued -> claimed (a polling worker's claim); worker run (claim
until the worker posts its result: the model); result -> settled; visible.

Overhead = total (submit sent -> completed seen) minus the model's own time (handler, or the
grid worker's run). Prints p50/p99 per step and site, then last `overhead_p50=<ms>` over the
RunPod-backed sites' jobs (the issue's goal: <= 250 ms).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

RUNPOD_STEPS = (
    "submit",
    "task queued -> run",
    "dispatch + /run",
    "worker pickup",
    "handler",
    "completion webhook",
    "callback + settle",
    "visible",
)
GRID_STEPS = ("submit", "queued -> claimed", "worker run", "result -> settled", "visible")
# The handlers each RunPod-backed site's bench job runs on.
SITE_MODELS = {"pics": ("flux-schnell",), "media": ("z-image-turbo",)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stamp(line: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(line["time"]).timestamp()


def started(line: dict[str, Any]) -> float:
    return stamp(line) - float(line["latency_ms"]) / 1000


class Site:
    """How to submit one bench job on a site and see it finish."""

    def __init__(self, name: str, base: str, key: str):
        self.name, self.base, self.headers = name, base, {"Authorization": f"Bearer {key}"}

    def submit(self, client: httpx.Client) -> str:
        raise NotImplementedError

    def finished(self, client: httpx.Client, job_id: str) -> bool:
        raise NotImplementedError


class Pics(Site):
    def submit(self, client: httpx.Client) -> str:
        body = {"prompt": "e2e", "model": "flux-schnell", "tier": "basic"}
        answer = client.post(f"{self.base}/jobs", json=body | {"width": 64, "height": 64},
                             headers=self.headers)  # fmt: skip
        answer.raise_for_status()
        return str(answer.json()["id"])

    def finished(self, client: httpx.Client, job_id: str) -> bool:
        status = client.get(f"{self.base}/jobs/{job_id}", headers=self.headers).json()["status"]
        if status == "failed":
            raise RuntimeError(f"pics job {job_id} failed")
        return bool(status == "completed")


class Media(Site):
    def submit(self, client: httpx.Client) -> str:
        body = {"task": "image.generate", "input": {"prompt": "e2e", "width": 64, "height": 64}}
        answer = client.post(f"{self.base}/media/jobs", json=body, headers=self.headers)
        answer.raise_for_status()
        return str(answer.json()["externalJobId"])

    def finished(self, client: httpx.Client, job_id: str) -> bool:
        body = client.get(
            f"{self.base}/media/jobs", params={"jobId": job_id}, headers=self.headers
        ).json()
        if body["status"] == "failed":
            raise RuntimeError(f"media job {job_id} failed")
        return bool(body["status"] == "completed")


class Grid(Site):
    def submit(self, client: httpx.Client) -> str:
        body = {"model": "tiny-llm:latest", "prompt": "Say hi."}
        answer = client.post(f"{self.base}/jobs", json=body, headers=self.headers)
        answer.raise_for_status()
        return f"g{answer.json()['job_id']}"  # the job's document id (shared/grid/ids.py)

    def finished(self, client: httpx.Client, job_id: str) -> bool:
        url = f"{self.base}/jobs/{job_id[1:]}"
        status = client.get(url, headers=self.headers).json()["status"]
        if status in ("failed", "cancelled"):
            raise RuntimeError(f"grid job {job_id} {status}")
        return bool(status == "completed")


def run_jobs(site: Site, count: int, poll_s: float) -> list[dict[str, Any]]:
    """Submit `count` jobs one after another; each: id, sent (epoch s), seen (epoch s)."""
    runs = []
    with httpx.Client(timeout=60) as client:
        for _ in range(count):
            sent = time.time()
            job_id = site.submit(client)
            deadline = time.monotonic() + 120
            while not site.finished(client, job_id):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{site.name} job {job_id} did not finish")
                time.sleep(poll_s)
            runs.append({"id": job_id, "sent": sent, "seen": time.time()})
    return runs


class LogIndex:
    """The gateway's JSON lines, by job id and by request id."""

    def __init__(self, path: Path):
        self.by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for raw in path.read_text(errors="replace").splitlines():
            if not raw.startswith("{"):
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if "job_id" in line:
                self.by_job[line["job_id"]].append(line)
            if "request_id" in line:
                self.by_request[line["request_id"]].append(line)

    def state(self, job_id: str, state: str) -> dict[str, Any]:
        return next(
            line for line in self.by_job[job_id] if line.get("message", "").endswith(f"-> {state}")
        )

    def request_of(self, line: dict[str, Any]) -> dict[str, Any]:
        """The request log line (method, path, latency) of the request that wrote `line`."""
        return next(r for r in self.by_request[line["request_id"]] if "latency_ms" in r)

    def first(self, job_id: str, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return next(line for line in self.by_job[job_id] if test(line))


def runpod_steps(logs: LogIndex, run: dict[str, Any]) -> dict[str, float]:
    job = run["id"]
    submit = logs.request_of(logs.state(job, "PENDING"))
    dispatch = logs.first(job, lambda x: x.get("path", "").startswith("/task_dispatch"))
    backend_run = logs.first(job, lambda x: "/run " in x.get("message", ""))
    report = logs.first(job, lambda x: "backend_execution_ms" in x)
    completed = logs.state(job, "COMPLETED")
    callback = logs.request_of(completed)
    delay, execution = report["backend_delay_ms"] / 1000, report["backend_execution_ms"] / 1000
    ms = {
        "submit": stamp(submit) - started(submit),
        "task queued -> run": started(dispatch) - stamp(submit),
        "dispatch + /run": stamp(backend_run) - started(dispatch),
        "worker pickup": delay,
        "handler": execution,
        "completion webhook": started(callback) - (stamp(backend_run) + delay + execution),
        "callback + settle": stamp(completed) - started(callback),
        "visible": run["seen"] - stamp(completed),
    }
    return {k: v * 1000 for k, v in ms.items()} | _totals(run, model_s=execution)


def grid_steps(logs: LogIndex, run: dict[str, Any]) -> dict[str, float]:
    job = run["id"]
    queued = logs.state(job, "QUEUED")
    submit = logs.request_of(queued)
    claimed = logs.state(job, "CLAIMED")
    completed = logs.state(job, "COMPLETED")
    result = logs.request_of(completed)
    worker_run = started(result) - stamp(claimed)
    ms = {
        "submit": stamp(submit) - started(submit),
        "queued -> claimed": stamp(claimed) - stamp(submit),
        "worker run": worker_run,
        "result -> settled": stamp(completed) - started(result),
        "visible": run["seen"] - stamp(completed),
    }
    return {k: v * 1000 for k, v in ms.items()} | _totals(run, model_s=worker_run)


def _totals(run: dict[str, Any], *, model_s: float) -> dict[str, float]:
    total = run["seen"] - run["sent"]
    return {"total": total * 1000, "overhead": (total - model_s) * 1000}


def report(site: str, steps: tuple[str, ...], rows: list[dict[str, float]]) -> None:
    print(f"{site} ({len(rows)} jobs)")
    for step in (*steps, "total", "overhead"):
        values = [row[step] for row in rows]
        print(
            f"  {step:22} p50={percentile(values, 0.5):8.1f} ms "
            f"p99={percentile(values, 0.99):8.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20, help="measured jobs per site")
    parser.add_argument("--warm", type=int, default=2, help="unmeasured jobs first, per site")
    parser.add_argument("--poll-ms", type=float, default=25.0)
    parser.add_argument("--sites", default="pics,media,grid")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.sites.split(",") if s.strip()]

    from infra.local.stack import Stack
    from tests.helpers import media_account, new_account

    stack = Stack.on_free_ports(workers=False, grid_agent="grid" in chosen)
    try:
        stack.start()
        models = tuple(m for site in chosen for m in SITE_MODELS.get(site, ()))
        stack.start_workers(models=models)
        stack.wait_for_workers(timeout=300, models=models)
        ports = stack.ports
        sites: dict[str, Site] = {}
        if "pics" in chosen:
            sites["pics"] = Pics(
                "pics", f"http://127.0.0.1:{ports['pics']}/api/v1", new_account(credits=10**4)[1]
            )
        if "media" in chosen:
            key = media_account(micros=10**9)[1]
            sites["media"] = Media("media", f"http://127.0.0.1:{ports['media']}/api/v1", key)
        if "grid" in chosen:
            from shared.engine import identity

            key = new_account(credits=10**4, site=identity.Site.GRID)[1]
            sites["grid"] = Grid("grid", f"http://127.0.0.1:{ports['grid']}/api/v1", key)
        runs = {}
        for name, site in sites.items():
            run_jobs(site, args.warm, args.poll_ms / 1000)
            runs[name] = run_jobs(site, args.jobs, args.poll_ms / 1000)
        time.sleep(1.0)  # the last callbacks' request lines
        logs = LogIndex(stack.logs / "gateway.log")
        overheads: list[float] = []
        for name, site_runs in runs.items():
            if name == "grid":
                report(name, GRID_STEPS, [grid_steps(logs, run) for run in site_runs])
                continue
            rows = [runpod_steps(logs, run) for run in site_runs]
            report(name, RUNPOD_STEPS, rows)
            overheads += [row["overhead"] for row in rows]
        if overheads:
            print(f"overhead_p50={percentile(overheads, 0.5):.0f}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
