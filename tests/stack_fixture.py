"""The session's own local stack, on free ports, shared by integration and contract tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

IDLE_MODEL = "no-workers"


def _reset_process_caches() -> None:
    from shared import clients, settings

    settings.get_settings.cache_clear()
    for accessor in (
        clients.firestore_client,
        clients.storage_client,
        clients.tasks_client,
        clients.http_client,
    ):
        accessor.cache_clear()


@pytest.fixture(scope="session")
def stack() -> Iterator[object]:
    from infra.local.stack import Stack

    # RELAY_TEST_WORKERS=0 skips the GPU workers when iterating on tests that need none.
    workers = os.environ.get("RELAY_TEST_WORKERS", "1") != "0"
    running = Stack.on_free_ports(idle_endpoints=(IDLE_MODEL,), workers=workers)
    try:
        running.start()
        os.environ.update(running.env)
        _reset_process_caches()
        from shared.outputs import ensure_bucket
        from shared.queue import ensure_queue

        ensure_queue()
        ensure_bucket()
        if workers:
            running.wait_for_workers()
        yield running
    finally:
        running.stop()
