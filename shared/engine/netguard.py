"""Outbound URL guard: Relay only ever calls a client-supplied URL on the public internet.

What can never happen: a client-supplied URL makes Relay connect to a loopback, private,
link-local (the 169.254.169.254 metadata server included), CGNAT, multicast, reserved or
unspecified address, directly or through an IPv6 form that embeds one (IPv4-mapped,
NAT64, 6to4), unless the local-development allowance (`Settings.allow_private_webhooks`)
is passed in. Every address a host resolves to is checked, not just the first, and the
connection is then made to a checked address itself, never by resolving the name again,
so a DNS answer that changes between the check and the connect (rebinding) cannot move
the request inside. Credentials in a URL are refused, plain http needs the allowance,
redirects are not followed and a response is read only up to a small cap.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.engine.errors import AppError, ErrorKind

if TYPE_CHECKING:  # httpx loads on first use: cold start is a feature
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ADDRESSES_TRIED = 3  # bounds one send to a few connect timeouts

# What `ipaddress` does not already call non-global (or calls global by mistake, such as
# multicast and the deprecated IPv6 site-local block), with the word a refusal uses.
_REFUSED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (ipaddress.ip_network("0.0.0.0/8"), "unspecified"),
    (ipaddress.ip_network("100.64.0.0/10"), "shared (CGNAT)"),
    (ipaddress.ip_network("169.254.0.0/16"), "link-local"),
    (ipaddress.ip_network("224.0.0.0/4"), "multicast"),
    (ipaddress.ip_network("240.0.0.0/4"), "reserved"),
    (ipaddress.ip_network("fc00::/7"), "unique-local"),
    (ipaddress.ip_network("fe80::/10"), "link-local"),
    (ipaddress.ip_network("fec0::/10"), "site-local"),
    (ipaddress.ip_network("ff00::/8"), "multicast"),
    (ipaddress.ip_network("2001::/32"), "Teredo"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A last host label that a resolver would read as (part of) an IPv4 number.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


@dataclass(frozen=True)
class ResolvedTarget:
    """A URL that passed the guard and the addresses it may be reached at."""

    url: str
    scheme: str
    host: str  # as written in the URL (IDNA-encoded), for the Host header and TLS SNI
    port: int
    addresses: tuple[str, ...]  # every address the host resolved to, all checked

    @property
    def address(self) -> str:
        return self.addresses[0]

    @property
    def host_is_literal(self) -> bool:
        return _as_ip(self.host) is not None


def refused(message: str, reason: str) -> AppError:
    return AppError(ErrorKind.INVALID, message, {"reason": reason})


DEV_ALLOWED = frozenset({"loopback", "private"})


def address_refusal(ip: IPAddress) -> str | None:
    """Why `ip` may not be called from Relay (a short noun), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return address_refusal(embedded)
    for network, why in _REFUSED_NETWORKS:
        if ip.version == network.version and ip in network:
            return why
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _as_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _canonical(ip: IPAddress) -> str:
    """The form to connect to: an IPv4-mapped IPv6 address is its IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _resolve(host: str, port: int) -> list[str]:
    literal = _as_ip(host)
    if literal is not None:
        return [_canonical(literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise refused("webhook URL has an invalid host name", "host") from exc
    except socket.gaierror as exc:
        raise refused("webhook URL host does not resolve", "dns") from exc
    addresses: list[str] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # Drop an IPv6 zone id.
        address = _canonical(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise refused("webhook URL host does not resolve", "dns")
    return addresses


def check_url(url: str, *, allow_private: bool, label: str = "webhook URL") -> ResolvedTarget:
    """Parse, resolve and vet an outbound URL; raise AppError(INVALID) when it is refused.

    `details["reason"]` says why: scheme, credentials, host, port, dns or address.
    `dns` is the only reason that may change by itself (a caller may retry on it).
    """
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise refused(f"{label} is missing or too long", "url")
    if any(ch.isspace() or ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise refused(f"{label} may not contain spaces, backslashes or control characters", "url")
    import httpx

    try:
        parsed = httpx.URL(url)  # the same parser that builds the request: no differential
    except httpx.InvalidURL as exc:
        raise refused(f"{label} is malformed", "url") from exc
    scheme = parsed.scheme
    if scheme not in DEFAULT_PORTS or (scheme == "http" and not allow_private):
        raise refused(f"{label} must use https", "scheme")
    authority = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if parsed.userinfo or "@" in authority:
        raise refused(f"{label} may not contain credentials", "credentials")
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded, brackets stripped
    if not host:
        raise refused(f"{label} has no host", "host")
    if _as_ip(host) is None and _NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]):
        # 127.1, 0x7f.1, 2130706433: resolvers read these as addresses; we want one form.
        raise refused(f"{label} host is not a canonical IP address", "host")
    port = parsed.port
    if port is not None and not 0 < port < 65536:
        raise refused(f"{label} has an invalid port", "port")
    port = port or DEFAULT_PORTS[scheme]
    addresses = _resolve(host, port)
    for address in addresses:
        why = address_refusal(ipaddress.ip_address(address))
        # The development allowance opens loopback and private networks, never link-local
        # (cloud metadata), multicast or unspecified addresses.
        if why is not None and not (allow_private and why in DEV_ALLOWED):
            raise refused(
                f"{label} host resolves to a {why} address; only public hosts can be reached",
                "address",
            )
    return ResolvedTarget(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def guarded_post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool,
    max_response_bytes: int = MAX_RESPONSE_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.Response:
    """POST `body` to a checked address of `url`'s host, never following a redirect.

    The request goes to the IP literal the guard approved, with the URL's Host header and
    (for https) its host name as TLS SNI, so the certificate is still verified against the
    name. Up to MAX_ADDRESSES_TRIED addresses are tried in order while a connection
    cannot be made (within `timeout` overall for starting a new one). The response
    holds at most `max_response_bytes` of its body, undecoded; reading it stops at
    `timeout` seconds overall. A refused URL raises AppError(INVALID); a receiver that
    cannot be reached or times out raises AppError(UNAVAILABLE).
    """
    target = check_url(url, allow_private=allow_private)
    return _pinned(
        "POST",
        target,
        body=body,
        headers=headers,
        timeout=timeout,
        ssl_context=ssl_context,
        read=lambda response, deadline: _read_capped(response, max_response_bytes, deadline),
        what="webhook receiver",
    )


def guarded_get(
    url: str,
    *,
    timeout: float,
    allow_private: bool,
    max_bytes: int,
    label: str = "URL",
) -> httpx.Response:
    """GET a client-supplied URL through the same guard as `guarded_post` (checked and
    pinned addresses, no redirects). The body is read decoded up to `max_bytes`; one byte
    more is AppError(TOO_LARGE). A non-2xx answer is returned as is (the caller decides);
    a refused URL is INVALID, an unreachable or slow host UNAVAILABLE."""
    target = check_url(url, allow_private=allow_private, label=label)

    def read(response: httpx.Response, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise AppError(ErrorKind.TOO_LARGE, f"{label} serves more than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise AppError(ErrorKind.UNAVAILABLE, f"{label} took too long to download")
            chunks.append(chunk)
        return b"".join(chunks)

    return _pinned("GET", target, body=None, headers={}, timeout=timeout, read=read, what=label)


def _pinned(
    method: str,
    target: ResolvedTarget,
    *,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float,
    read: Callable[[httpx.Response, float], bytes],
    what: str,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.Response:
    """One request to the first reachable checked address of `target` (see guarded_post)."""
    import httpx

    original = httpx.URL(target.url)
    request_headers = {
        **headers,
        "Host": original.netloc.decode("ascii"),
        **({"Accept-Encoding": "identity"} if method == "POST" else {}),
    }
    extensions = (
        {} if target.host_is_literal or target.scheme != "https" else {"sni_hostname": target.host}
    )
    deadline = time.monotonic() + timeout
    last_error: httpx.TransportError | None = None
    with httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # a proxy would resolve the name again
        verify=ssl_context or True,
    ) as client:
        for address in target.addresses[:MAX_ADDRESSES_TRIED]:
            if last_error is not None and time.monotonic() > deadline:
                break
            pinned = original.copy_with(host=address, port=target.port)
            try:
                with client.stream(
                    method, pinned, content=body, headers=request_headers, extensions=extensions
                ) as response:
                    content = read(response, deadline)
                    return httpx.Response(
                        status_code=response.status_code,
                        headers=_plain_headers(response.headers),
                        content=content,
                        request=response.request,
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_error = exc  # this address is down: the next one may not be
                continue
            except httpx.TimeoutException as exc:
                raise AppError(
                    ErrorKind.UNAVAILABLE, f"{what} timed out", {"reason": "timeout"}
                ) from exc
            except httpx.TransportError as exc:
                raise AppError(
                    ErrorKind.UNAVAILABLE, f"{what} connection failed", {"reason": "transport"}
                ) from exc
    raise AppError(
        ErrorKind.UNAVAILABLE, f"{what} is unreachable", {"reason": "connect"}
    ) from last_error


def _read_capped(response: httpx.Response, limit: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit or time.monotonic() > deadline:
            break
    return b"".join(chunks)


def _plain_headers(headers: httpx.Headers) -> httpx.Headers:
    """The response headers minus those that describe the body's framing or encoding,
    which no longer hold for the capped, undecoded copy."""
    import httpx

    skip = {"content-encoding", "content-length", "transfer-encoding"}
    return httpx.Headers([(k, v) for k, v in headers.multi_items() if k.lower() not in skip])
