"""How every local stand-in server (RunPod, Stripe, Coinbase, x402, Ollama) runs from its
CLI: quiet request logs unless asked, serve on a thread-per-request werkzeug server, and
stop cleanly on SIGTERM or SIGINT (the stack stops its children with SIGTERM)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import httpx
from werkzeug.serving import make_server


def parse_delays(text: str) -> tuple[float, ...]:
    """`--webhook-retry-delays 0.5,1` -> (0.5, 1.0): the waits between delivery attempts."""
    return tuple(float(part) for part in text.split(",") if part.strip())


def provider_parser(
    *,
    prog: str,
    description: str,
    port: int,
    key_help: str,
    secret_help: str,
    retry_delays: tuple[float, ...],
) -> argparse.ArgumentParser:
    """The options every payment provider's stand-in takes (Stripe, Coinbase Commerce)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port, help="0 picks a free port")
    parser.add_argument("--api-key", required=True, help=key_help)
    parser.add_argument("--webhook-secret", required=True, help=secret_help)
    parser.add_argument(
        "--webhook", action="append", default=[], metavar="URL", help="endpoint (repeatable)"
    )
    parser.add_argument("--public-url", help="base of handed-out page URLs (default: request host)")
    parser.add_argument(
        "--webhook-retry-delays",
        type=parse_delays,
        default=retry_delays,
        help="comma-separated seconds between delivery attempts",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def post_helper(url: str, path: str, **body: Any) -> int:
    """A shell helper's one call to a running stand-in's `/_local` route; prints the answer."""
    try:
        response = httpx.post(url.rstrip("/") + path, **body)
    except httpx.HTTPError as exc:
        print(f"cannot reach {url}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(response.json(), indent=2))
    return 0 if response.is_success else 1


def configure_logging(*, access_log: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not access_log:
        # Per-request lines (and successful outbound calls) would drown everything else.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        logging.getLogger("httpx").setLevel(logging.WARNING)


def serve_until_signalled(
    app: Any,
    *,
    host: str,
    port: int,
    name: str,
    close: Callable[[], None] = lambda: None,
    banner: str = "",
) -> int:
    """Serve `app` until SIGTERM/SIGINT; `close` stops the app's own threads."""
    server = make_server(host, port, app, threaded=True)

    def stop(_signum: int, _frame: Any) -> None:
        # shutdown() blocks until serve_forever returns, so it cannot run on the serving thread.
        close()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"{name} listening on http://{host}:{server.server_port}{banner}", flush=True)
    try:
        server.serve_forever()
    finally:
        close()
        with contextlib.suppress(Exception):
            server.server_close()
    return 0
