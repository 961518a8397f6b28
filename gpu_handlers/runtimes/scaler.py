"""RunPod's own JobScaler, asking for the next job the moment there is room for it.

The SDK's scaler (runpod 1.12, `rp_scale.JobScaler`) runs two loops with fixed sleeps:
- job take: while the worker is full it checks again every second ("Queue is full.
  Retrying soon." then `asyncio.sleep(1)`). A job that ends 200 ms after it was taken
  leaves the GPU idle for the other 800 ms before the worker asks RunPod for the next one,
  so on a busy endpoint one worker runs at most one short job a second; measured locally,
  this was 720 of a pics job's 900 ms of overhead (docs/benchmarks.md);
- job run: with nothing running, it looks at its local queue every 100 ms.

`EventJobScaler` keeps the SDK's loops, job take, result posts, heartbeats, stop signals
and shutdown as they are, and only replaces those two waits with events: a finished job
wakes the job-take loop at once, a taken job wakes the run loop at once. Each wait still
ends after its old interval, so a missed event costs no more than the SDK's own sleep.

Concurrency stays the SDK's default of 1 (one job per GPU) and `refresh_worker` stays
off: either would add a delay of its own (a second job queued behind the first on the same
GPU; a worker restart after every job).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from runpod.serverless.modules import rp_scale  # type: ignore[import-untyped]

ROOM_WAIT_S = 1.0  # the SDK's own "queue is full" sleep, now an upper bound
IDLE_WAIT_S = 0.1  # the SDK's own idle sleep of the run loop, now an upper bound


class EventJobScaler(rp_scale.JobScaler):  # type: ignore[misc]
    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self._room = asyncio.Event()  # a job finished: the take loop may ask for more
        self._taken = asyncio.Event()  # a job was taken: the run loop may start it
        fetch: Any = self.jobs_fetcher  # type: ignore[has-type]

        async def fetch_and_signal(session: Any, num_jobs: int) -> Any:
            jobs = await fetch(session, num_jobs)
            if jobs:
                # Runs once the take loop has queued them (its next await).
                asyncio.get_running_loop().call_soon(self._taken.set)
            return jobs

        self.jobs_fetcher = fetch_and_signal

    def kill_worker(self) -> None:
        super().kill_worker()
        self._room.set()  # neither loop waits out its interval to see the shutdown
        self._taken.set()

    async def set_scale(self) -> None:
        """The SDK's rescale, then, while the worker is full, wait for a job to finish
        (the SDK would sleep a second and look again)."""
        await super().set_scale()
        while self.is_alive() and self.current_occupancy() >= self.current_concurrency:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), ROOM_WAIT_S)

    async def handle_job(self, session: Any, job: dict[str, Any]) -> None:
        try:
            await super().handle_job(session, job)
        finally:
            self._room.set()

    async def run_jobs(self, session: Any) -> None:
        """The SDK's run loop (rp_scale.JobScaler.run_jobs), waiting for a taken job
        instead of sleeping 100 ms when idle."""
        tasks: set[asyncio.Task[None]] = set()
        while self.is_alive() or not self.jobs_queue.empty():
            while len(tasks) < self.current_concurrency and not self.jobs_queue.empty():
                job = await self.jobs_queue.get()
                task = asyncio.create_task(self.handle_job(session, job))
                tasks.add(task)
                self.jobs_tasks[job["id"]] = task
            if tasks:
                done, _ = await asyncio.wait(
                    tasks, return_when=asyncio.FIRST_COMPLETED, timeout=IDLE_WAIT_S
                )
                tasks.difference_update(done)
            else:
                self._taken.clear()
                if self.jobs_queue.empty():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._taken.wait(), IDLE_WAIT_S)
        # As the SDK: let the rest finish; a stopped job's CancelledError is expected.
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
                rp_scale.log.error(f"JobScaler.run_jobs | Task failed during shutdown: {result}")


def install() -> None:
    """Make `runpod.serverless.start` run its worker with `EventJobScaler` (the SDK's
    worker builds `rp_scale.JobScaler(config)` when it starts)."""
    rp_scale.JobScaler = EventJobScaler
