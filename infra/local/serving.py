"""How every local stand-in server (RunPod, Stripe, Coinbase, x402, Ollama) runs from its
CLI: quiet request logs unless asked, serve on a thread-per-request werkzeug server, and
stop cleanly on SIGTERM or SIGINT (the stack stops its children with SIGTERM)."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import make_server


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
