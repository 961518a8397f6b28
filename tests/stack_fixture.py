"""The session's own local stack, on free ports, shared by integration and contract tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

IDLE_MODEL = "no-workers"
# Calls without an X-Forwarded-For all come from loopback, one network: its per-network
# limits are lifted (the per-account ones stay; test_rate_limits runs its own gateway).
LIFTED_IP_LIMITS = ",".join(
    f"{action}.ip=100000/3600"
    for action in ("checkout", "x402", "key_mint", "device_start", "stripe_connect")
)


@pytest.fixture(scope="session")
def stack() -> Iterator[object]:
    from infra.local.stack import Stack

    # RELAY_TEST_WORKERS=0 skips the GPU workers when iterating on tests that need none.
    workers = os.environ.get("RELAY_TEST_WORKERS", "1") != "0"
    running = Stack.on_free_ports(
        idle_endpoints=(IDLE_MODEL,),
        workers=workers,
        # Short worker long-polls keep tests quick. Every test calls from loopback, so the
        # per-IP sign-in limits are lifted here (the per-email and per-code ones stay).
        extra_env={
            "RELAY_GRID_POLL_WAIT_S": "2",
            # Grid earnings are payable at once over HTTP here; the settlement window is
            # tested in-process (tests/integration/test_grid_abuse.py).
            "RELAY_GRID_SETTLEMENT_WINDOW_S": "0",
            "RELAY_MEDIA_EMAIL_IP_PER_HOUR": "100000",
            "RELAY_MEDIA_VERIFY_IP_PER_MINUTE": "100000",
            # The test client stands as one more trusted proxy: its X-Forwarded-For names the
            # client (tests/market_helpers.py gives each client its own address).
            "RELAY_TRUSTED_PROXY_HOPS": "2",
            "RELAY_RATE_LIMITS": LIFTED_IP_LIMITS,
        },
    )
    try:
        running.start()
        if workers:
            running.wait_for_workers()
        yield running
    finally:
        running.stop()
