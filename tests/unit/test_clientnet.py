"""The client address sits just left of the trusted hops; networks group IPv6 by /64."""

from __future__ import annotations

import pytest

from shared.engine.clientnet import INVALID, client_address, network


@pytest.mark.parametrize(
    ("forwarded", "hops", "expected"),
    [
        ("203.0.113.7, 10.0.0.1", 1, "203.0.113.7"),  # Hosting: client, then its own hop
        ("1.1.1.1, 2.2.2.2, 203.0.113.7, 10.0.0.1", 1, "203.0.113.7"),  # spoofed entries
        ("203.0.113.7", 0, "203.0.113.7"),
        ("9.9.9.9, 203.0.113.7", 0, "203.0.113.7"),
        ("198.51.100.1, 127.0.0.1, 10.0.0.1", 2, "198.51.100.1"),
        ("203.0.113.7", 1, "203.0.113.7"),  # fewer entries than hops: the leftmost
        (" , ", 1, "192.0.2.9"),  # none at all: the peer
    ],
)
def test_client_address(forwarded: str, hops: int, expected: str) -> None:
    assert client_address(forwarded, "192.0.2.9", trusted_hops=hops) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("[2001:db8:1:3::1]", "2001:db8:1:3::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("not-an-address", INVALID),
        ("", INVALID),
    ],
)
def test_network(address: str, expected: str) -> None:
    assert network(address) == expected
