"""A second gateway on the session's stack (same emulators and stand-ins) whose limits are
small, so the rate-limit tests reach them in a few requests without touching the shared
gateway's. Its front ends append X-Forwarded-For hops as production's do; the test client
stands as one more trusted proxy, so the address a test names is the client's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from infra.local.stack import REPO, free_ports, wait_for_port

SITES = ("market", "pics", "grid", "media", "library")
TIGHT_ENV = {
    "RELAY_TRUSTED_PROXY_HOPS": "2",
    "RELAY_RATE_LIMITS": ",".join(
        [
            "checkout.account=2/3600",
            "checkout.ip=3/3600",
            "x402.account=2/3600",
            "x402.ip=3/3600",
            "key_mint.account=3/3600",
            "key_mint.ip=4/3600",
            "device_start.ip=2/3600",
            "stripe_connect.account=2/3600",
            "stripe_connect.ip=3/3600",
        ]
    ),
    "RELAY_MAX_ACTIVE_KEYS": "3",
    "RELAY_MEDIA_EMAIL_IP_PER_HOUR": "3",
    "RELAY_MEDIA_VERIFY_IP_PER_MINUTE": "100",
    "RELAY_MEDIA_VERIFY_FOREIGN_PER_HOUR": "3",
}


def tight_gateway(stack: Any) -> Iterator[dict[str, str]]:
    """Yield the site base URLs of a gateway with TIGHT_ENV's limits; stop it after."""
    ports = free_ports(len(SITES) + 1)
    site_ports = dict(zip(SITES, ports, strict=False))
    log = open(stack.logs / "tight-gateway.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.local.gateway",
            "--ports",
            ",".join(f"{s}={p}" for s, p in site_ports.items()),
            "--functions-port",
            str(ports[-1]),
        ],
        cwd=REPO,
        env={**os.environ, **stack.env, **TIGHT_ENV},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for port in ports:
            wait_for_port(port, proc, "tight-gateway", timeout=90)
        yield {s: f"http://127.0.0.1:{p}" for s, p in site_ports.items()}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def from_client(address: str, **headers: str) -> dict[str, str]:
    """Headers of a request the client at `address` makes (it may have written any
    X-Forwarded-For of its own before that: `spoof`)."""
    spoof = headers.pop("spoof", None)
    forwarded = f"{spoof}, {address}" if spoof else address
    return {"X-Forwarded-For": forwarded, **headers}
