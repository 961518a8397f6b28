"""Integration tests for outgoing mail (shared/providers/mail.py) against the local sink.

The sink (infra/local/mail_sink.py) runs in process on free loopback ports, and
`shared.providers.mail` reaches it through its settings (``RELAY_SMTP_HOST``,
``RELAY_SMTP_PORT``), the
same way `make dev` wires it; the CLI is also run as a real subprocess. No emulator stack is
needed. Every wait is bounded.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.mail_sink import MailSink, latest_message
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.providers import mail as mailer

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def _point_mailer_at(monkeypatch: pytest.MonkeyPatch, *, port: int) -> None:
    monkeypatch.setenv("RELAY_ENV", "local")
    # Settings refuse placeholder secrets off the emulators; these tests need no emulator.
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8085")
    monkeypatch.setenv("RELAY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("RELAY_SMTP_PORT", str(port))
    monkeypatch.setenv("RELAY_SMTP_STARTTLS", "false")
    monkeypatch.setenv("RELAY_MAIL_FROM", "Relay Tests <tests@relay.test>")
    monkeypatch.delenv("RELAY_SMTP_USERNAME", raising=False)
    monkeypatch.delenv("RELAY_SMTP_PASSWORD", raising=False)
    get_settings.cache_clear()


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailSink]:
    with MailSink(host="127.0.0.1") as running:
        _point_mailer_at(monkeypatch, port=running.smtp_port)
        try:
            yield running
        finally:
            get_settings.cache_clear()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sent_mail_is_readable_over_http(sink: MailSink) -> None:
    mailer.send(to="Alice@Example.test", subject="Your sign-in code", text="Code: 482913\n")

    message = latest_message(sink.http_base, to="alice@example.test", timeout=5)

    assert message["subject"] == "Your sign-in code"
    assert message["text"].strip() == "Code: 482913"
    assert message["to"] == ["Alice@Example.test"]
    assert message["html"] is None
    assert message["from"] == "tests@relay.test"
    assert message["received_at"].endswith("+00:00")
    one = httpx.get(f"{sink.http_base}/messages/{message['id']}", timeout=5)
    assert one.status_code == 200
    assert one.json() == message
    assert sink.messages(to="ALICE@example.test") == [message]


def test_html_alternative_is_kept(sink: MailSink) -> None:
    mailer.send(
        to="bob@example.test",
        subject="Code",
        text="Your code is 111222",
        html="<p>Your code is <b>111222</b></p>",
    )

    message = latest_message(sink.http_base, to="bob@example.test", timeout=5)

    assert message["text"].strip() == "Your code is 111222"
    assert message["html"].strip() == "<p>Your code is <b>111222</b></p>"


def test_non_ascii_text_is_decoded(sink: MailSink) -> None:
    mailer.send(to="zoe@example.test", subject="Código — ✓", text="Olá, código 9 ✓")

    message = latest_message(sink.http_base, to="zoe@example.test", timeout=5)

    assert message["subject"] == "Código — ✓"
    assert message["text"].strip() == "Olá, código 9 ✓"


def test_to_filter_is_case_insensitive_and_listing_is_newest_first(sink: MailSink) -> None:
    mailer.send(to="a@example.test", subject="first", text="1")
    mailer.send(to="b@example.test", subject="second", text="2")
    mailer.send(to="a@example.test", subject="third", text="3")

    everything = httpx.get(f"{sink.http_base}/messages", timeout=5).json()
    only_a = httpx.get(f"{sink.http_base}/messages", params={"to": "A@EXAMPLE.test"}, timeout=5)
    newest_a = httpx.get(
        f"{sink.http_base}/messages", params={"to": "a@example.test", "limit": 1}, timeout=5
    )
    bad_limit = httpx.get(f"{sink.http_base}/messages", params={"limit": "x"}, timeout=5)

    assert [m["subject"] for m in everything] == ["third", "second", "first"]
    assert [m["subject"] for m in only_a.json()] == ["third", "first"]
    assert [m["subject"] for m in newest_a.json()] == ["third"]
    assert bad_limit.status_code == 400


def test_delete_clears_and_unknown_id_is_404(sink: MailSink) -> None:
    mailer.send(to="c@example.test", subject="gone soon", text="x")
    message = latest_message(sink.http_base, to="c@example.test", timeout=5)

    cleared = httpx.delete(f"{sink.http_base}/messages", timeout=5)
    listing = httpx.get(f"{sink.http_base}/messages", timeout=5)
    missing = httpx.get(f"{sink.http_base}/messages/{message['id']}", timeout=5)

    assert cleared.status_code == 200
    assert listing.json() == []
    assert missing.status_code == 404
    assert "error" in missing.json()


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("victim@example.test\r\nBcc: spy@example.test", "hello"),
        ("victim@example.test\nBcc: spy@example.test", "hello"),
        ("victim@example.test", "hello\r\nBcc: spy@example.test"),
        ("victim@example.test", "hello\nX-Injected: 1"),
        ("victim@example.test, spy@example.test", "hello"),
        ("not-an-address", "hello"),
    ],
)
def test_header_injection_and_bad_recipients_are_refused(
    sink: MailSink, to: str, subject: str
) -> None:
    with pytest.raises(AppError) as raised:
        mailer.send(to=to, subject=subject, text="code 1")

    assert raised.value.kind is ErrorKind.INVALID
    assert sink.messages() == []


def test_mail_body_is_never_logged(sink: MailSink, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=mailer.__name__)

    mailer.send(to="dana@secret-domain.test", subject="Code", text="Code: 775533")
    latest_message(sink.http_base, to="dana@secret-domain.test", timeout=5)

    mailer_lines = [r.getMessage() for r in caplog.records if r.name == mailer.__name__]
    assert mailer_lines == ["mail sent to a recipient at secret-domain.test"]
    assert not any("775533" in line or "dana@" in line for line in mailer_lines)


def test_stopped_sink_makes_delivery_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = MailSink(host="127.0.0.1").start()
    port = stopped.smtp_port
    stopped.stop()
    _point_mailer_at(monkeypatch, port=port)
    try:
        started = time.monotonic()
        with pytest.raises(AppError) as raised:
            mailer.send(to="e@example.test", subject="Code", text="1")
    finally:
        get_settings.cache_clear()

    assert raised.value.kind is ErrorKind.UNAVAILABLE
    assert isinstance(raised.value.__cause__, OSError)
    assert time.monotonic() - started < 11


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RELAY_SMTP_STARTTLS", "true"), ("RELAY_SMTP_USERNAME", "relay")],
)
def test_tls_or_login_the_server_cannot_do_is_unavailable_not_sent_in_clear(
    sink: MailSink, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()

    with pytest.raises(AppError) as raised:
        mailer.send(to="f@example.test", subject="Code", text="Code: 1")

    assert raised.value.kind is ErrorKind.UNAVAILABLE
    assert sink.messages() == []


def test_latest_message_times_out_when_nothing_arrives(sink: MailSink) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        latest_message(sink.http_base, to="nobody@example.test", timeout=0.5)
    assert time.monotonic() - started < 5


def test_cli_serves_both_ports_and_exits_on_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    smtp_port, http_port = _free_port(), _free_port()
    command = [
        sys.executable,
        "-m",
        "infra.local.mail_sink",
        "--host",
        "127.0.0.1",
        "--smtp-port",
        str(smtp_port),
        "--http-port",
        str(http_port),
    ]
    proc = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    http_base = f"http://127.0.0.1:{http_port}"
    try:
        _wait_until_listening(proc, http_base)
        _point_mailer_at(monkeypatch, port=smtp_port)
        mailer.send(to="cli@example.test", subject="via cli", text="hi")
        assert latest_message(http_base, to="cli@example.test", timeout=5)["subject"] == "via cli"

        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=5)
    finally:
        get_settings.cache_clear()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    output = proc.stdout.read() if proc.stdout else ""

    assert returncode == 0, output
    assert f"127.0.0.1:{smtp_port}" in output
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{http_base}/messages", timeout=1)


def _wait_until_listening(proc: subprocess.Popen[str], http_base: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"mail sink exited with {proc.returncode}: {output}")
        try:
            if httpx.get(f"{http_base}/messages", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("mail sink did not start listening within 15s")
