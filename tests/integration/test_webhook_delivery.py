"""Outbound webhooks against real loopback receivers.

Delivery tests run on the emulators (the `stack` fixture) and call `webhooks.deliver` the
way the task target does, with the Cloud Tasks port replaced by a list so each test drives
the retries itself (and moves the clock instead of sleeping). The end-to-end tests go
through the real Tasks emulator and the gateway once main.py exports the task target.
Receivers live on 127.0.0.1, so every call carries the local-development allowance.
"""

from __future__ import annotations

import ast
import datetime as dt
import ipaddress
import itertools
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.engine import clock, netguard, webhooks
from shared.engine.errors import AppError, ErrorKind
from shared.engine.webhooks import DeliveryStatus

REPO = Path(__file__).resolve().parents[2]


def _exported_functions() -> list[str]:
    """main.__all__, read without importing every function module."""
    tree = ast.parse((REPO / "main.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__":
            return list(ast.literal_eval(node.value))
    return []


# -- a scripted receiver -------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class Receiver:
    """Answers POSTs with the scripted statuses in turn (the last one repeats)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay_s: float = 0.0
    response_body: bytes = b"ok"
    extra_headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self, context: ssl.SSLContext | None = None) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    index = min(len(receiver.received), len(receiver.statuses)) - 1
                    status = receiver.statuses[index]
                time.sleep(receiver.delay_s)
                self.send_response(status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.response_body)))
                self.end_headers()
                self.wfile.write(receiver.response_body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.stop()


def _receiver(receivers: list[Receiver], **kwargs: Any) -> Receiver:
    receiver = Receiver(**kwargs).start()
    receivers.append(receiver)
    return receiver


# -- the queue and the clock, under the test's control ---------------------------------------


@dataclass
class Enqueued:
    target: str
    payload: dict[str, Any]
    name: str | None
    delay: dt.timedelta | None


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> list[Enqueued]:
    tasks: list[Enqueued] = []

    def enqueue(
        target: str,
        payload: dict[str, Any],
        *,
        name: str | None = None,
        delay: dt.timedelta | None = None,
    ) -> None:
        tasks.append(Enqueued(target, payload, name, delay))

    monkeypatch.setattr(webhooks, "enqueue", enqueue)
    return tasks


@pytest.fixture
def moving_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """clock.advance() inside the test, undone after it."""
    monkeypatch.setattr(clock, "_offset", clock._offset)


def _new_delivery(
    receiver: Receiver, queue: list[Enqueued], *, key: str | None = None
) -> tuple[str, str, dict[str, Any]]:
    """Enqueue a delivery to `receiver`; returns (delivery id, plaintext key, task)."""
    job_id = str(uuid.uuid4())
    key = key or f"vk_live_{uuid.uuid4().hex}"
    webhooks.enqueue_delivery(
        delivery_id=job_id,
        url=receiver.url(),
        payload={"id": job_id, "status": "completed", "output": {"text": "héllo"}},
        sealed_secret=webhooks.seal(key, context=job_id),
        allow_private=True,
    )
    task = queue[-1]
    assert task.target == "task_deliver_webhook" and task.name == f"webhook-{job_id}"
    return job_id, key, task.payload


def _signed_with(key: str, received: Received) -> bool:
    return webhooks.verify(received.body, received.headers.get("X-Vibe-Signature"), key)


def _record(delivery_id: str) -> webhooks.DeliveryRecord:
    record = webhooks.get_delivery(delivery_id)
    assert record is not None
    return record


def _deliver_until_final(task: dict[str, Any], *, max_runs: int = 50) -> list[str]:
    """Play Cloud Tasks: run the task, retry it when it fails, and when deliver schedules
    a later task, move the clock to that time and run it."""
    outcomes = []
    for attempt in range(max_runs):
        try:
            outcome = webhooks.deliver(task, attempt, allow_private=True)
        except AppError as exc:
            assert exc.kind is ErrorKind.UNAVAILABLE
            outcomes.append("retry")
            continue
        outcomes.append(outcome)
        if outcome != "scheduled":
            return outcomes
        record = _record(task["delivery_id"])
        assert record.next_attempt_at is not None
        clock.advance(record.next_attempt_at - clock.now())
    raise AssertionError(f"delivery never finished: {outcomes}")


# -- delivery, driven directly ----------------------------------------------------------------


def test_receiver_gets_the_body_signed_with_the_clients_key(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued]
) -> None:
    receiver = _receiver(receivers)
    delivery_id, key, task = _new_delivery(receiver, queue)

    assert webhooks.deliver(task, 0, allow_private=True) == "delivered"

    [got] = receiver.received
    assert webhooks.verify(got.body, got.headers["X-Vibe-Signature"], key)
    assert got.body == webhooks.serialise(
        {"id": delivery_id, "status": "completed", "output": {"text": "héllo"}}
    )
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Relay-Delivery"] == delivery_id
    assert got.headers["User-Agent"].startswith("Relay-Webhooks/")
    assert got.headers["Host"] == f"127.0.0.1:{receiver.port}"
    record = _record(delivery_id)
    assert (record.status, record.attempts, record.last_status_code) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
    )
    assert record.finished_at is not None
    assert key not in str(record.model_dump())
    assert key not in str(task)


def test_500_twice_then_200_is_delivered_on_the_third_attempt(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued], moving_clock: None
) -> None:
    receiver = _receiver(receivers, statuses=[500, 500, 200])
    delivery_id, key, task = _new_delivery(receiver, queue)

    with pytest.raises(AppError) as first:
        webhooks.deliver(task, 0, allow_private=True)
    assert first.value.kind is ErrorKind.UNAVAILABLE
    record = _record(delivery_id)
    assert (record.status, record.attempts, record.last_status_code) == (
        DeliveryStatus.RETRYING,
        1,
        500,
    )
    assert record.next_attempt_at is not None

    # The emulator retries at once: too early, so a task is scheduled for the due time.
    assert webhooks.deliver(task, 1, allow_private=True) == "scheduled"
    later = queue[-1]
    assert later.delay is not None
    assert webhooks.retry_delay(1) - dt.timedelta(seconds=1) < later.delay
    assert later.delay <= webhooks.retry_delay(1) + dt.timedelta(seconds=1)
    assert len(receiver.received) == 1

    outcomes = _deliver_until_final(later.payload)

    assert outcomes[-1] == "delivered"
    assert len(receiver.received) == 3
    assert [r.headers["X-Relay-Attempt"] for r in receiver.received] == ["1", "2", "3"]
    assert len({r.body for r in receiver.received}) == 1
    assert all(_signed_with(key, r) for r in receiver.received)
    record = _record(delivery_id)
    assert (record.status, record.attempts, record.last_status_code) == (
        DeliveryStatus.DELIVERED,
        3,
        200,
    )
    assert record.next_attempt_at is None


def test_404_gives_up_after_one_attempt(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued]
) -> None:
    receiver = _receiver(receivers, statuses=[404])
    delivery_id, _, task = _new_delivery(receiver, queue)

    assert webhooks.deliver(task, 0, allow_private=True) == "gave up"
    assert webhooks.deliver(task, 1, allow_private=True) == "already gave_up"

    assert len(receiver.received) == 1
    record = _record(delivery_id)
    assert (record.status, record.attempts, record.last_status_code) == (
        DeliveryStatus.GAVE_UP,
        1,
        404,
    )
    assert record.last_error == "receiver answered 404"


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_timeouts_and_throttling_are_retried(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued], status: int
) -> None:
    receiver = _receiver(receivers, statuses=[status])
    delivery_id, _, task = _new_delivery(receiver, queue)
    with pytest.raises(AppError):
        webhooks.deliver(task, 0, allow_private=True)
    assert _record(delivery_id).status is DeliveryStatus.RETRYING


def test_retries_stop_after_the_attempt_cap(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued], moving_clock: None
) -> None:
    receiver = _receiver(receivers, statuses=[503])
    delivery_id, _, task = _new_delivery(receiver, queue)

    outcomes = _deliver_until_final(task)

    assert outcomes[-1] == "gave up"
    assert len(receiver.received) == webhooks.MAX_ATTEMPTS
    record = _record(delivery_id)
    assert (record.status, record.attempts, record.last_status_code) == (
        DeliveryStatus.GAVE_UP,
        webhooks.MAX_ATTEMPTS,
        503,
    )


def test_a_task_delivered_twice_concurrently_sends_once(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued]
) -> None:
    receiver = _receiver(receivers, delay_s=0.5)
    delivery_id, _, task = _new_delivery(receiver, queue)

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(
            pool.map(lambda n: webhooks.deliver(dict(task), n, allow_private=True), range(4))
        )

    assert outcomes.count("delivered") == 1
    assert set(outcomes) <= {"delivered", "in flight", "already delivered"}
    assert webhooks.deliver(task, 0, allow_private=True) == "already delivered"
    assert len(receiver.received) == 1
    assert _record(delivery_id).attempts == 1
    # Whoever found the delivery in flight scheduled a look for after the sender's lease.
    waits = [t for t in queue if t.name and t.name.endswith("-w")]
    assert len(waits) == outcomes.count("in flight")


def test_a_task_whose_body_was_changed_is_not_signed(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued]
) -> None:
    import base64

    receiver = _receiver(receivers)
    delivery_id, _, task = _new_delivery(receiver, queue)
    forged = {**task, "body_b64": base64.b64encode(b'{"status":"refunded"}').decode()}

    assert webhooks.deliver(forged, 0, allow_private=True) == "task does not match its delivery"
    assert receiver.received == []
    assert _record(delivery_id).status is DeliveryStatus.PENDING


def test_a_secret_sealed_for_another_job_is_refused_at_enqueue(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued]
) -> None:
    receiver = _receiver(receivers)
    with pytest.raises(AppError) as caught:
        webhooks.enqueue_delivery(
            delivery_id=str(uuid.uuid4()),
            url=receiver.url(),
            payload={"x": 1},
            sealed_secret=webhooks.seal("vk_live_x", context="another-job"),
            allow_private=True,
        )
    assert caught.value.kind is ErrorKind.INVALID
    assert queue == []


def test_a_private_url_is_refused_at_enqueue_without_the_allowance(
    stack: Any, queue: list[Enqueued]
) -> None:
    delivery_id = str(uuid.uuid4())
    for url in ("http://127.0.0.1:9/hook", "https://127.0.0.1:9/hook", "https://[::1]/x"):
        with pytest.raises(AppError) as caught:
            webhooks.enqueue_delivery(
                delivery_id=delivery_id,
                url=url,
                payload={"x": 1},
                sealed_secret=webhooks.seal("vk_live_x", context=delivery_id),
                allow_private=False,
            )
        assert caught.value.kind is ErrorKind.INVALID
    assert queue == []
    assert webhooks.get_delivery(delivery_id) is None


def test_a_url_that_turned_private_since_enqueue_is_not_called(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued]
) -> None:
    receiver = _receiver(receivers)
    delivery_id, _, task = _new_delivery(receiver, queue)

    # The same delivery without the allowance: the re-check at send time refuses it.
    assert webhooks.deliver(task, 0, allow_private=False) == "gave up"
    assert receiver.received == []
    record = _record(delivery_id)
    assert record.status is DeliveryStatus.GAVE_UP
    assert record.last_error is not None and record.last_error.startswith("webhook URL")


def test_enqueueing_a_delivered_delivery_again_does_nothing(
    stack: Any, receivers: list[Receiver], queue: list[Enqueued]
) -> None:
    receiver = _receiver(receivers)
    delivery_id, key, task = _new_delivery(receiver, queue)
    assert webhooks.deliver(task, 0, allow_private=True) == "delivered"
    queued = len(queue)

    webhooks.enqueue_delivery(
        delivery_id=delivery_id,
        url=receiver.url(),
        payload={"id": delivery_id, "status": "completed", "output": {"text": "héllo"}},
        sealed_secret=webhooks.seal(key, context=delivery_id),
        allow_private=True,
    )
    assert len(queue) == queued
    with pytest.raises(AppError) as caught:
        webhooks.enqueue_delivery(
            delivery_id=delivery_id,
            url=receiver.url(),
            payload={"another": "payload"},
            sealed_secret=webhooks.seal(key, context=delivery_id),
            allow_private=True,
        )
    assert caught.value.kind is ErrorKind.CONFLICT


# -- the pinned connection (no emulators needed) ----------------------------------------------


FAKE_NAMES = {
    "hooks.relay.test": ["127.0.0.1"],
    "two.relay.test": ["127.0.0.2", "127.0.0.1"],  # nothing listens on the first
}


@pytest.fixture
def fake_name(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names in FAKE_NAMES resolve to loopback; returns the log of names looked up."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        if host in FAKE_NAMES:
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in FAKE_NAMES[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def test_the_request_goes_to_the_checked_address_with_the_urls_host_header(
    receivers: list[Receiver], fake_name: list[str]
) -> None:
    receiver = _receiver(receivers)
    url = receiver.url("/in?x=1", host="hooks.relay.test")

    response = netguard.guarded_post(
        url, body=b"{}", headers={"X-A": "b"}, timeout=5, allow_private=True
    )

    assert response.status_code == 200
    [got] = receiver.received
    assert got.headers["Host"] == f"hooks.relay.test:{receiver.port}"
    assert got.path == "/in?x=1"
    assert got.headers["X-A"] == "b"
    # Resolved once, by the guard; the connection used the address, not the name again.
    assert fake_name.count("hooks.relay.test") == 1
    for name in fake_name:
        if name != "hooks.relay.test":
            ipaddress.ip_address(name)


def test_an_address_that_refuses_connections_falls_through_to_the_next_checked_one(
    receivers: list[Receiver], fake_name: list[str]
) -> None:
    receiver = _receiver(receivers)

    response = netguard.guarded_post(
        receiver.url(host="two.relay.test"), body=b"{}", headers={}, timeout=5, allow_private=True
    )

    assert response.status_code == 200
    assert len(receiver.received) == 1
    assert fake_name.count("two.relay.test") == 1


def _tls_context_for(hostname: str, tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a self-signed certificate for `hostname`, client trusting it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{hostname}.crt", tmp_path / f"{hostname}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def test_tls_is_verified_against_the_host_name_while_connecting_to_the_address(
    receivers: list[Receiver], fake_name: list[str], tmp_path: Path
) -> None:
    server_ctx, client_ctx = _tls_context_for("hooks.relay.test", tmp_path)
    receiver = Receiver().start(context=server_ctx)
    receivers.append(receiver)
    url = f"https://hooks.relay.test:{receiver.port}/hook"

    response = netguard.guarded_post(
        url, body=b"{}", headers={}, timeout=5, allow_private=True, ssl_context=client_ctx
    )
    assert response.status_code == 200

    # A certificate for another name fails verification: no silent fallback to the IP.
    other_server, other_client = _tls_context_for("other.relay.test", tmp_path)
    impostor = Receiver().start(context=other_server)
    receivers.append(impostor)
    with pytest.raises(AppError) as caught:
        netguard.guarded_post(
            f"https://hooks.relay.test:{impostor.port}/hook",
            body=b"{}",
            headers={},
            timeout=5,
            allow_private=True,
            ssl_context=other_client,
        )
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert impostor.received == []


def test_redirects_are_not_followed(receivers: list[Receiver]) -> None:
    target = _receiver(receivers)
    redirector = _receiver(
        receivers, statuses=[307], extra_headers={"Location": target.url("/stolen")}
    )

    response = netguard.guarded_post(
        redirector.url(), body=b"{}", headers={}, timeout=5, allow_private=True
    )

    assert response.status_code == 307
    assert target.received == []


def test_the_response_body_is_read_only_up_to_the_cap(receivers: list[Receiver]) -> None:
    big = _receiver(receivers, response_body=b"x" * (2 * 1024 * 1024))

    response = netguard.guarded_post(
        big.url(), body=b"{}", headers={}, timeout=5, allow_private=True, max_response_bytes=1000
    )

    assert response.status_code == 200
    assert len(response.content) == 1000


def test_an_unreachable_receiver_is_unavailable_not_invalid() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        with pytest.raises(AppError) as caught:
            netguard.guarded_post(
                f"http://127.0.0.1:{port}/", body=b"{}", headers={}, timeout=2, allow_private=True
            )
    assert caught.value.kind is ErrorKind.UNAVAILABLE


# -- end to end, through the Tasks emulator and the gateway -----------------------------------

needs_task_target = pytest.mark.skipif(
    "task_deliver_webhook" not in _exported_functions(),
    reason="main.py does not export task_deliver_webhook yet",
)


def _require_private_allowance(stack: Any) -> None:
    assert stack.env.get("RELAY_ALLOW_PRIVATE_WEBHOOKS") == "1", (
        "the test stack must set RELAY_ALLOW_PRIVATE_WEBHOOKS=1 so the gateway may call "
        "loopback receivers"
    )


def _wait_final(delivery_id: str, timeout: float = 90.0) -> webhooks.DeliveryRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = webhooks.get_delivery(delivery_id)
        if record is not None and record.status in webhooks.FINAL:
            return record
        time.sleep(0.2)
    raise AssertionError(f"delivery {delivery_id} not final: {webhooks.get_delivery(delivery_id)}")


def _enqueue_for_real(receiver: Receiver) -> tuple[str, str]:
    job_id = str(uuid.uuid4())
    key = f"vk_live_{uuid.uuid4().hex}"
    webhooks.enqueue_delivery(
        delivery_id=job_id,
        url=receiver.url(),
        payload={"id": job_id, "status": "completed"},
        sealed_secret=webhooks.seal(key, context=job_id),
        allow_private=True,
    )
    return job_id, key


@needs_task_target
def test_cloud_tasks_retries_a_failing_receiver_until_it_answers_200(
    stack: Any, receivers: list[Receiver]
) -> None:
    _require_private_allowance(stack)
    receiver = _receiver(receivers, statuses=[500, 500, 200])
    delivery_id, key = _enqueue_for_real(receiver)

    record = _wait_final(delivery_id)

    assert (record.status, record.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert len(receiver.received) == 3
    assert all(_signed_with(key, r) for r in receiver.received)
    assert [r.headers["X-Relay-Attempt"] for r in receiver.received] == ["1", "2", "3"]
    # Spaced by our backoff, although the emulator itself retries at once.
    times = [r.at for r in receiver.received]
    for n, (earlier, later) in enumerate(itertools.pairwise(times), start=1):
        assert later - earlier >= webhooks.retry_delay(n).total_seconds() - 0.5


@needs_task_target
def test_a_delivery_enqueued_twice_is_sent_once(stack: Any, receivers: list[Receiver]) -> None:
    _require_private_allowance(stack)
    receiver = _receiver(receivers, delay_s=0.5)
    delivery_id, key = _enqueue_for_real(receiver)
    webhooks.enqueue_delivery(  # the emulator does not dedupe task names: a second task
        delivery_id=delivery_id,
        url=receiver.url(),
        payload={"id": delivery_id, "status": "completed"},
        sealed_secret=webhooks.seal(key, context=delivery_id),
        allow_private=True,
    )

    record = _wait_final(delivery_id)
    time.sleep(2.0)  # let the duplicate run

    assert record.status is DeliveryStatus.DELIVERED
    assert len(receiver.received) == 1
