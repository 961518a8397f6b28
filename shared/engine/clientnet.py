"""Which client a request came from, as the per-IP limits count it.

Invariants: the client address is the X-Forwarded-For entry just left of the hops our own
proxies appended (`trusted_proxy_hops`, counted from the right; behind Firebase Hosting that
is one: Hosting's front end appends the address that connected to it, then its own hop), so
nothing a client writes into the header moves it. A client network is an IPv4 address, or
an IPv6 /64 (one subscriber's allocation; an IPv4-mapped IPv6 address is its IPv4 address);
anything unparsable is the one network `invalid`, so junk cannot mint fresh buckets.
"""

from __future__ import annotations

import ipaddress

INVALID = "invalid"
IPV6_PREFIX = 64


def client_address(forwarded_for: str, remote_addr: str | None, *, trusted_hops: int) -> str:
    """The client's address from an X-Forwarded-For value whose last `trusted_hops` entries
    our proxies appended. With fewer entries (a call that bypassed them) the leftmost one."""
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if len(hops) > trusted_hops:
        return hops[-(trusted_hops + 1)]
    if hops:
        return hops[0]
    return remote_addr or INVALID


def network(address: str) -> str:
    """The bucket a client address counts in: IPv4 as is, IPv6 grouped by /64."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return INVALID
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)
