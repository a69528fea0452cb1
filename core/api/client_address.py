"""The client's address for rate limits: the socket peer, unless that peer is a trusted proxy.

Only when the peer is inside ``TRUSTED_PROXIES`` is ``X-Forwarded-For`` read, from the right:
each trusted proxy appends the address it saw, so the right-most address that is not a trusted
proxy is the client. Anything to the left of it was written by the client and is ignored, so a
forged header cannot move a caller into a fresh rate-limit bucket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import cache

from aiohttp import web

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"


def client_address(request: web.Request, trusted_proxies: Iterable[str]) -> str:
    """The address limits are counted against (an IP address, or ``unknown``)."""
    networks = _networks(tuple(trusted_proxies))
    peer = _parse(request.remote)
    if peer is None:
        return UNKNOWN  # e.g. a Unix socket; every such caller shares one bucket
    if not _trusted(peer, networks):
        return str(peer)
    hops = [
        part for value in request.headers.getall("X-Forwarded-For", ()) for part in value.split(",")
    ]
    for raw in reversed(hops):
        hop = _parse(raw)
        if hop is None:
            break  # a malformed hop: stop trusting what lies further left
        if not _trusted(hop, networks):
            return str(hop)
    return str(peer)


@cache
def _networks(items: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _parse(raw: str | None) -> IpAddress | None:
    if not raw:
        return None
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket (::ffff:1.2.3.4) is the IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IpAddress, networks: tuple[IpNetwork, ...]) -> bool:
    return any(address in network for network in networks)
