"""Media jobs: per task, submit latency and end-to-end overhead, next to a floor.

Starts its own stack on free ports with every handler's real worker (tiny weights on the
CPU), then for each task submits `--runs` jobs one after another over HTTP and records:
- submit: the POST /api/v1/media/jobs round trip (parse, stage, probe, price, hold,
  enqueue);
- total: submit start to the first status poll that reads `completed` (polled every 50 ms);
- overhead: total minus the handler's own time (`result.upstream.handlerSeconds`): what
  the gateway, the queue, the control plane and the completion add around the model.
The floor is the same work without the gateway: a resize job's prepared payload sent
straight to the local RunPod control plane with `/runsync`, wall time minus handler time.

Prints p50/p99 per task (ms), then last `ratio overhead_p50=<all tasks' overhead p50 over
the floor's p50>`. Figures are CPU and emulator figures: they show Relay's overhead, not
GPU inference time (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from tests.media_jobs_helpers import FileHost, inline, mp4, png, wav


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cases(host: FileHost) -> dict[str, dict[str, Any]]:
    clip = host.put(mp4(1.0), "video/mp4")
    return {
        "image.generate": {"prompt": "a fox", "width": 64, "height": 64},
        "image.edit": {"prompt": "blue", "sourceImage": inline(png(64, 64), "image/png")},
        "video.generate": {
            "prompt": "waves", "width": 64, "height": 64, "durationFrames": 9,
            "sampledFps": 8, "interpolationFps": 0,
        },
        "video.combine": {"videoUrls": [clip, clip], "frameRate": 30},
        "video.resize": {"sourceVideoUrl": clip, "width": 32, "height": 24},
        "audio.speak": {"text": "Hello there."},
        "audio.annotation.reference": {
            "sourceAudio": inline(wav(2.0), "audio/wav"), "transcript": "hello world",
        },
        "ace.step.create": {"tags": "lofi", "lyrics": "la la", "durationSeconds": 15, "steps": 4},
        "moss.sound.effect": {"prompt": "a door creaks", "durationSeconds": 1},
        "trellis.generate": {
            "sourceImage": inline(png(64, 64), "image/png"), "qualityPreset": "performance",
        },
    }  # fmt: skip


def run_job(client: httpx.Client, api: str, key: str, task: str, fields: dict) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    start = time.perf_counter()
    answer = client.post(f"{api}/media/jobs", json={"task": task, "input": fields}, headers=headers)
    submitted = time.perf_counter() - start
    answer.raise_for_status()
    job_id = answer.json()["externalJobId"]
    while True:
        body = client.get(
            f"{api}/media/jobs", params={"jobId": job_id, "includeDetails": "true"}, headers=headers
        ).json()
        if body["status"] in ("completed", "failed"):
            break
        time.sleep(0.05)
    total = time.perf_counter() - start
    if body["status"] != "completed":
        raise RuntimeError(f"{task} failed: {body['result']}")
    handler = float(body["result"]["upstream"]["handlerSeconds"])
    return {"submit": submitted, "total": total, "overhead": total - handler, "job": job_id}


def floor_run(stack: Any, job_id: str) -> float:
    """A finished job's payload, prepared again, straight to the control plane."""
    from infra.local.stack import RUNPOD_API_KEY
    from shared.engine import jobs
    from shared.media.jobs import completion

    job = jobs.get(job_id)
    payload = completion.prepare(job)
    url = f"http://127.0.0.1:{stack.ports['runpod']}/v2/{job.model}/runsync"
    start = time.perf_counter()
    answer = httpx.post(
        url,
        json={"input": payload},
        headers={"Authorization": f"Bearer {RUNPOD_API_KEY}"},
        timeout=300,
    ).json()
    wall = time.perf_counter() - start
    if answer.get("status") != "COMPLETED":
        raise RuntimeError(f"floor run failed: {answer}")
    return wall - float(answer["output"]["handlerSeconds"])


def line(label: str, values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
    return f"{label:28} p50={p50:8.1f} ms p99={p99:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="jobs per task")
    args = parser.parse_args()

    from infra.local.stack import Stack
    from tests.helpers import media_account

    stack = Stack.on_free_ports()
    host = FileHost()
    try:
        stack.start()
        stack.wait_for_workers(timeout=300)
        api = f"http://127.0.0.1:{stack.ports['media']}/api/v1"
        _, key = media_account(micros=1_000_000_000)
        overheads: list[float] = []
        resize_jobs: list[str] = []
        with httpx.Client(timeout=300) as client:
            for task, fields in cases(host).items():
                run_job(client, api, key, task, fields)  # warm: first job loads lazily
                runs = [run_job(client, api, key, task, fields) for _ in range(args.runs)]
                print(f"{task}  ({args.runs} jobs)")
                print("  " + line("submit", [r["submit"] for r in runs]))
                print("  " + line("total", [r["total"] for r in runs]))
                print("  " + line("overhead (total - handler)", [r["overhead"] for r in runs]))
                overheads += [r["overhead"] for r in runs]
                if task == "video.resize":
                    resize_jobs = [r["job"] for r in runs]
        floor = [floor_run(stack, job_id) for job_id in resize_jobs]
        print(line("floor (runsync - handler)", floor))
        print(f"overall overhead p50={percentile(overheads, 0.5) * 1000:.1f} ms")
        print(f"ratio overhead_p50={percentile(overheads, 0.5) / percentile(floor, 0.5):.2f}")
    finally:
        host.server.shutdown()
        stack.stop()


if __name__ == "__main__":
    main()
