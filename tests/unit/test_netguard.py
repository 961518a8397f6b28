"""The outbound URL guard, without the network: names resolve through a fake resolver and
nothing here opens a connection (a public address is only ever checked, never called)."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from shared.engine import netguard
from shared.engine.errors import AppError, ErrorKind
from shared.engine.netguard import check_url, guarded_post

FAKE_DNS = {
    "localhost": ["127.0.0.1", "::1"],
    "hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"],
    "metadata.google.internal": ["169.254.169.254"],
    "half-private.example.com": ["93.184.216.34", "10.0.0.7"],
    "v6-only-ula.example.com": ["fd00:1234::5"],
}


def _fake_getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
    if host not in FAKE_DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    infos = []
    for address in FAKE_DNS[host]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
        infos.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
    return infos


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netguard.socket, "getaddrinfo", _fake_getaddrinfo)


def _refusal(url: str, *, allow_private: bool = False) -> AppError:
    with pytest.raises(AppError) as caught:
        check_url(url, allow_private=allow_private)
    assert caught.value.kind is ErrorKind.INVALID
    return caught.value


REFUSED_ADDRESSES = [
    ("https://127.0.0.1/hook", "loopback"),
    ("https://127.255.0.9/hook", "loopback"),
    ("https://localhost/hook", "loopback"),
    ("https://10.1.2.3/hook", "private"),
    ("https://172.16.0.1/hook", "private"),
    ("https://172.31.255.254/hook", "private"),
    ("https://192.168.1.10/hook", "private"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://metadata.google.internal/computeMetadata/v1/", "link-local"),
    ("https://[::1]/hook", "loopback"),
    ("https://[fc00::1]/hook", "unique-local"),
    ("https://[fd12:3456::1]/hook", "unique-local"),
    ("https://v6-only-ula.example.com/hook", "unique-local"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://[fec0::1]/hook", "site-local"),
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
    ("https://[::ffff:10.0.0.1]/hook", "private"),
    ("https://[::ffff:169.254.169.254]/hook", "link-local"),
    ("https://[64:ff9b::a9fe:a9fe]/hook", "link-local"),  # NAT64 form of the metadata IP
    ("https://[2002:7f00:1::]/hook", "loopback"),  # 6to4 form of 127.0.0.1
    ("https://100.64.0.1/hook", "shared (CGNAT)"),
    ("https://100.127.255.254/hook", "shared (CGNAT)"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://[::]/hook", "unspecified"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://[ff02::1]/hook", "multicast"),
    ("https://240.0.0.1/hook", "reserved"),
    ("https://255.255.255.255/hook", "reserved"),
    ("https://198.18.0.1/hook", "private"),  # benchmarking range
    ("https://192.0.2.1/hook", "private"),  # documentation range
    ("https://half-private.example.com/hook", "private"),  # every address is checked
]


@pytest.mark.parametrize(("url", "why"), REFUSED_ADDRESSES)
def test_non_public_addresses_are_refused(url: str, why: str) -> None:
    error = _refusal(url)
    assert error.details == {"reason": "address"}
    assert f"resolves to a {why} address" in error.message


@pytest.mark.parametrize(("url", "why"), REFUSED_ADDRESSES)
def test_the_local_development_allowance_opens_only_loopback_and_private_networks(
    url: str, why: str
) -> None:
    if why in ("loopback", "private"):
        assert check_url(url, allow_private=True).addresses
    else:  # cloud metadata (link-local), multicast, ... stay closed even locally
        assert _refusal(url, allow_private=True).details == {"reason": "address"}


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("https://93.184.216.34/hook", ("93.184.216.34",)),
        ("https://[2606:2800:220:1::1]/hook", ("2606:2800:220:1::1",)),
        ("https://[::ffff:93.184.216.34]/hook", ("93.184.216.34",)),
        ("https://hooks.example.com/a/b?c=d", ("93.184.216.34", "2606:2800:220:1::1")),
    ],
)
def test_public_hosts_are_accepted_with_every_resolved_address(
    url: str, addresses: tuple[str, ...]
) -> None:
    target = check_url(url, allow_private=False)
    assert target.addresses == addresses
    assert target.address == addresses[0]
    assert target.scheme == "https" and target.port == 443


def test_the_resolved_target_keeps_host_and_port_for_the_pinned_request() -> None:
    target = check_url("https://Hooks.Example.com:8443/x", allow_private=False)
    assert (target.host, target.port) == ("hooks.example.com", 8443)
    assert not target.host_is_literal
    assert check_url("https://93.184.216.34/", allow_private=False).host_is_literal


def test_plain_http_needs_the_local_development_allowance() -> None:
    assert _refusal("http://93.184.216.34/hook").details == {"reason": "scheme"}
    assert check_url("http://93.184.216.34/hook", allow_private=True).port == 80


@pytest.mark.parametrize(
    "url",
    ["ftp://93.184.216.34/x", "file:///etc/passwd", "gopher://93.184.216.34/", "ws://a/"],
)
def test_other_schemes_are_refused_even_with_the_allowance(url: str) -> None:
    assert _refusal(url, allow_private=True).details["reason"] in {"scheme", "url"}


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@93.184.216.34/hook",
        "https://user@93.184.216.34/hook",
        "https://:pass@93.184.216.34/hook",
        "https://@93.184.216.34/hook",
        "http://user:pass@127.0.0.1/hook",
    ],
)
def test_credentials_in_the_url_are_refused(url: str) -> None:
    error = _refusal(url, allow_private=True)
    assert error.details == {"reason": "credentials"}
    assert "credentials" in error.message


@pytest.mark.parametrize(
    "url",
    ["https://127.1/", "https://2130706433/", "https://0x7f000001/", "https://0x7f.0.0.1/"],
)
def test_non_canonical_ip_hosts_are_refused(url: str) -> None:
    assert _refusal(url, allow_private=True).details == {"reason": "host"}


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        "https://",
        "https:///path",
        "https://93.184.216.34:99999/",
        "https://93.184.216.34:0/",
        "https://evil.example\\@127.0.0.1/",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/\r\nX-Injected: 1",
        "https://" + "a" * 3000 + ".com/",
    ],
)
def test_malformed_urls_are_refused_with_a_clear_invalid_error(url: str) -> None:
    error = _refusal(url, allow_private=True)
    assert error.message.startswith("webhook URL")


def test_a_host_that_does_not_resolve_is_refused_as_dns() -> None:
    error = _refusal("https://nowhere.invalid/hook")
    assert error.details == {"reason": "dns"}
    assert "does not resolve" in error.message


def test_guarded_post_refuses_before_opening_any_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_client(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a refused URL must not reach the HTTP client")

    monkeypatch.setattr(httpx, "Client", no_client)
    for url in ("https://169.254.169.254/", "http://93.184.216.34/", "https://u:p@h.com/"):
        with pytest.raises(AppError) as caught:
            guarded_post(url, body=b"{}", headers={}, timeout=1.0, allow_private=False)
        assert caught.value.kind is ErrorKind.INVALID


def _refusal_of(address: str) -> str | None:
    import ipaddress

    return netguard.address_refusal(ipaddress.ip_address(address))


def test_address_refusal_names_each_category() -> None:
    assert _refusal_of("8.8.8.8") is None
    assert _refusal_of("2001:4860:4860::8888") is None
    assert _refusal_of("127.0.0.1") == "loopback"
    assert _refusal_of("::ffff:192.168.0.1") == "private"
    assert _refusal_of("100.64.0.1") == "shared (CGNAT)"
