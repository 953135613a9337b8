"""A client's address behind proxies: one rule for the API, the middleware and the pages."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def forwarded_client(peer: str, forwarded_for: str, trusted: Sequence[IPNetwork]) -> str:
    """The rightmost address of `forwarded_for` + `peer` that is not a trusted proxy (each
    proxy appends the address it saw, so only hops right of the last untrusted one are true);
    the leftmost one when all are trusted."""
    chain = [h.strip() for h in forwarded_for.split(",") if h.strip()] + [peer]
    for hop in reversed(chain):
        if not is_trusted(hop, trusted):
            return hop[:64]
    return chain[0][:64]


def is_trusted(hop: str, trusted: Sequence[IPNetwork]) -> bool:
    """Whether `hop` is one of the trusted proxies."""
    try:
        address = ipaddress.ip_address(hop)
    except ValueError:
        return False
    return any(address in network for network in trusted)
