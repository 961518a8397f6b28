"""A loopback webhook receiver for tests of the local provider stand-ins (Stripe, Coinbase).

It records every POST with its body and signature header; `/flaky` answers 500 to its
first two deliveries so retries can be observed. `identify` tells, from a delivery's JSON,
which event type and object it carries.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    last = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
        last = probe()
    return last


@dataclass
class Delivery:
    path: str
    body: bytes
    signature: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    def __init__(
        self, *, signature_header: str, identify: Callable[[dict[str, Any]], tuple[str, str]]
    ) -> None:
        self.deliveries: list[Delivery] = []
        self._identify = identify
        self._lock = threading.Lock()
        self._flaky_failures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 200
                with receiver._lock:
                    signature = self.headers.get(signature_header, "")
                    receiver.deliveries.append(Delivery(self.path, body, signature))
                    if self.path == "/flaky" and receiver._flaky_failures < 2:
                        receiver._flaky_failures += 1
                        status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def matching(self, event_type: str, object_id: str, path: str = "/hooks") -> list[Delivery]:
        with self._lock:
            return [
                d
                for d in self.deliveries
                if d.path == path and self._identify(d.json) == (event_type, object_id)
            ]

    def wait_for(
        self, event_type: str, object_id: str, count: int = 1, path: str = "/hooks"
    ) -> list[Delivery]:
        def enough() -> list[Delivery] | None:
            found = self.matching(event_type, object_id, path)
            return found if len(found) >= count else None

        return wait_until(enough, 10, f"{count} {event_type} webhook(s) for {object_id} at {path}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
