"""A local mail sink: accepts any SMTP mail and serves what it received over a tiny HTTP API.

`make dev` and the tests point `shared.providers.mail` at it (``RELAY_SMTP_HOST``,
``RELAY_SMTP_PORT``)
and read sign-in codes back over HTTP; nothing is ever relayed onwards. Guarantees: every
message the SMTP side accepts (any sender, any recipient, no auth) is readable over HTTP as
soon as the SMTP ``DATA`` reply is sent; messages are parsed with ``email.policy.default`` so
``text`` and ``html`` are the decoded parts; at most ``MAX_MESSAGES`` are kept in memory, the
oldest dropped first; state sits behind one lock and dies with the process.

Routes (JSON): ``GET /messages`` newest first, optional ``?to=<address>`` (case-insensitive,
matched against the envelope recipients) and ``?limit=<n>``; ``GET /messages/<id>`` (404 when
unknown); ``DELETE /messages`` clears. A message is ``{"id", "from", "to": [...], "subject",
"text", "html", "received_at"}``.

Run ``python -m infra.local.mail_sink --host 127.0.0.1 --smtp-port 1025 --http-port 8025``
(until SIGINT/SIGTERM). In process: ``MailSink(smtp_port=0, http_port=0).start()``, then
``.smtp_port``, ``.http_port``, ``.messages(to=...)`` and ``.stop()``. Clients read a code with
``latest_message(http_base, to=...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import email
import email.policy
import email.utils
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import flask
import httpx
from aiosmtpd.controller import Controller
from werkzeug.serving import BaseWSGIServer, make_server

MAX_MESSAGES = 1000
SERVER_HOSTNAME = "mail-sink.local"  # spares aiosmtpd a reverse DNS lookup of this host


class Mailbox:
    """Received messages, oldest first, bounded; safe to use from any thread."""

    def __init__(self, *, capacity: int = MAX_MESSAGES) -> None:
        self._lock = threading.Lock()
        self._messages: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)

    def add(self, *, mail_from: str, rcpt_tos: Sequence[str], content: bytes) -> dict[str, Any]:
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        record = {
            "id": uuid.uuid4().hex,
            "from": mail_from,
            "to": list(rcpt_tos),
            "subject": str(parsed.get("Subject", "")),
            "text": _body(parsed, "plain"),
            "html": _body(parsed, "html"),
            "received_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        with self._lock:
            self._messages.append(record)
        return record

    def find(self, *, to: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        wanted = email.utils.parseaddr(to)[1].lower() if to else None
        with self._lock:
            newest_first = list(reversed(self._messages))
        if wanted is not None:
            newest_first = [m for m in newest_first if wanted in (r.lower() for r in m["to"])]
        return newest_first if limit is None else newest_first[:limit]

    def get(self, message_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((m for m in self._messages if m["id"] == message_id), None)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    return None if part is None else str(part.get_content())


class _Handler:
    """aiosmtpd handler: accept everything, file it in the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._mailbox.add(
            mail_from=envelope.mail_from or "",
            rcpt_tos=envelope.rcpt_tos,
            content=envelope.original_content or envelope.content,
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Controller that may bind port 0: it learns the real port before its self-test."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def create_app(mailbox: Mailbox) -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/messages")
    def list_messages() -> Any:
        raw_limit = flask.request.args.get("limit")
        limit = None
        if raw_limit is not None:
            if not raw_limit.isdigit():
                return {"error": "limit must be a non-negative integer"}, 400
            limit = int(raw_limit)
        return flask.jsonify(mailbox.find(to=flask.request.args.get("to"), limit=limit))

    @app.get("/messages/<message_id>")
    def get_message(message_id: str) -> Any:
        message = mailbox.get(message_id)
        if message is None:
            return {"error": f"no message {message_id}"}, 404
        return message

    @app.delete("/messages")
    def clear_messages() -> Any:
        mailbox.clear()
        return {"deleted": True}

    @app.errorhandler(404)
    @app.errorhandler(405)
    def http_error(exc: Any) -> Any:
        return {"error": exc.description}, exc.code

    return app


class MailSink:
    """SMTP and HTTP servers on background threads; port 0 picks a free port."""

    def __init__(self, *, host: str = "127.0.0.1", smtp_port: int = 0, http_port: int = 0):
        self.host = host
        self.mailbox = Mailbox()
        self._smtp_port = smtp_port
        self._http_port = http_port
        self._controller: _Controller | None = None
        self._http: BaseWSGIServer | None = None
        self._http_thread: threading.Thread | None = None

    @property
    def smtp_port(self) -> int:
        return self._controller.port if self._controller else self._smtp_port

    @property
    def http_port(self) -> int:
        return self._http.server_port if self._http else self._http_port

    @property
    def http_base(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def messages(self, *, to: str | None = None) -> list[dict[str, Any]]:
        return self.mailbox.find(to=to)

    def start(self) -> MailSink:
        controller = _Controller(
            _Handler(self.mailbox),
            hostname=self.host,
            port=self._smtp_port,
            server_hostname=SERVER_HOSTNAME,
            ready_timeout=10.0,
        )
        controller.start()
        self._controller = controller
        try:
            self._http = make_server(
                self.host, self._http_port, create_app(self.mailbox), threaded=True
            )
        except BaseException:
            self.stop()
            raise
        self._http_thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits on shutdown()
            name="mail-sink-http",
            daemon=True,
        )
        self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def latest_message(http_base: str, *, to: str, timeout: float = 10.0) -> dict[str, Any]:
    """The newest message for `to`, polling the sink until one arrives or `timeout` passes."""
    deadline = time.monotonic() + timeout
    url = f"{http_base.rstrip('/')}/messages"
    last_error: Exception | None = None
    with httpx.Client(timeout=min(timeout, 5.0)) as client:
        while True:
            try:
                response = client.get(url, params={"to": to, "limit": 1})
                response.raise_for_status()
                found = response.json()
                if found:
                    return dict(found[0])
            except httpx.TransportError as exc:  # the sink may still be starting
                last_error = exc
            if time.monotonic() >= deadline:
                message = f"no mail for {to} at {http_base} within {timeout}s"
                raise TimeoutError(message) from last_error
            time.sleep(0.1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mail_sink", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    args = parser.parse_args(argv)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    sink = MailSink(host=args.host, smtp_port=args.smtp_port, http_port=args.http_port).start()
    try:
        print(
            f"mail-sink smtp on {args.host}:{sink.smtp_port}, http on {sink.http_base}",
            flush=True,
        )
        # A timed wait lets the main thread run signal handlers promptly.
        while not stopping.wait(0.5):
            pass
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
