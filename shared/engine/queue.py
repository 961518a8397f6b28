"""The Queue port: Cloud Tasks, locally its emulator over the same client.

Every task is an HTTP POST of a JSON body to one of our functions
(`<functions_base_url>/<target>`), named after its cause. Cloud Tasks delivers at least
once and the local emulator does not even dedupe names, so every target must be
idempotent by itself; the name is an optimisation, never the guarantee. A task carries
the enqueuer's trace context, so its target's log lines join the same trace.

A task is authenticated by an OIDC ID token of the tasks service account
(`settings.tasks_service_account`) whose audience is the target's own URL: Cloud Tasks mints
it from `oidc_token`; the local emulator ignores that field, so locally the enqueuer adds the
same token itself, signed by the local key (shared/engine/task_auth.py verifies both).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from typing import Any

from google.api_core import exceptions as gexc

from shared.engine import clock, logs
from shared.engine.clients import tasks_client
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings


class Target:
    DISPATCH = "task_dispatch"
    SWEEP = "task_sweep"
    DELIVER_WEBHOOK = "task_deliver_webhook"
    SCAN = "task_library_scan"
    STUDIO_AGENT = "studio_agent_task"  # Killa Tamata's studio agent loop


def queue_path() -> str:
    s = get_settings()
    return tasks_client().queue_path(s.project_id, s.region, s.tasks_queue)


def ensure_queue() -> None:
    """Create the queue if missing (local stack; production declares it in infra/)."""
    s = get_settings()
    client = tasks_client()
    parent = f"projects/{s.project_id}/locations/{s.region}"
    with contextlib.suppress(gexc.AlreadyExists):
        client.create_queue(parent=parent, queue={"name": queue_path()})


def task_url(target: str) -> str:
    return f"{get_settings().functions_base_url.rstrip('/')}/{target}"


def enqueue(
    target: str,
    payload: dict[str, Any],
    *,
    name: str | None = None,
    delay: dt.timedelta | None = None,
) -> None:
    from google.cloud import tasks_v2

    settings = get_settings()
    url = task_url(target)
    headers = {
        "Content-Type": "application/json",
        # The task's own logs continue the trace of whoever enqueued it.
        **logs.trace_headers(),
    }
    if settings.environment == "local":
        from shared.engine.task_auth import local_token

        delay_s = delay.total_seconds() if delay else 0.0
        headers["Authorization"] = f"Bearer {local_token(url, delay_s=delay_s)}"
    task: dict[str, Any] = {
        "http_request": {
            "http_method": tasks_v2.HttpMethod.POST,
            "url": url,
            "headers": headers,
            "body": json.dumps(payload).encode(),
            "oidc_token": {
                "service_account_email": settings.tasks_service_account,
                "audience": url,
            },
        }
    }
    if name:
        task["name"] = f"{queue_path()}/tasks/{re.sub(r'[^A-Za-z0-9_-]', '-', name)[:480]}"
    if delay:
        from google.protobuf import timestamp_pb2

        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(clock.now() + delay)
        task["schedule_time"] = ts
    try:
        tasks_client().create_task(parent=queue_path(), task=task)
    except gexc.AlreadyExists:
        return
    except gexc.GoogleAPICallError as exc:
        raise AppError(ErrorKind.UNAVAILABLE, "task queue unavailable") from exc
