"""The Cloud Tasks emulator (gcloud-tasks-emulator 0.6.2, in .tasks-venv), dispatching a
new task within 10 ms instead of 100.

Run by .tasks-venv's Python with the emulator's own arguments:

    .tasks-venv/bin/python infra/local/tasks_emulator.py start -p 9022 -q ...

The emulator's queue thread wakes every 100 ms (`server._LOOP_SLEEP_TIME`) to send the tasks
that are due, one after another; Cloud Tasks sends a task moments after it is created. That
wait was a job's largest platform delay on the local stack once the RunPod worker stopped
sleeping (bench/e2e.py: "task queued -> run", p50 88 ms of 194). Here the thread wakes every
10 ms, and a task that failed is not sent again until 100 ms after its last attempt, so
retries keep the emulator's own pace (and its `--max-retries` the same span of time).
Everything else is the emulator as published.
"""

from __future__ import annotations

import time
from typing import Any

from gcloud_tasks_emulator import server
from gcloud_tasks_emulator.__main__ import main

POLL_S = 0.01
RETRY_SPACING_S = 0.1  # the emulator's own poll interval: its pace between attempts


def _paced(submit_task: Any) -> Any:
    last_attempt: dict[str, float] = {}

    def paced_submit_task(self: Any, task_name: str, force_run: bool = False) -> Any:
        now = time.monotonic()
        if not force_run and now - last_attempt.get(task_name, float("-inf")) < RETRY_SPACING_S:
            return None  # left where it is in the queue, for a later pass
        last_attempt[task_name] = now
        return submit_task(self, task_name, force_run)

    return paced_submit_task


if __name__ == "__main__":
    server._LOOP_SLEEP_TIME = POLL_S
    server.QueueState.submit_task = _paced(server.QueueState.submit_task)
    main()
