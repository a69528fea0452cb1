"""Who asks for a login code: the client's network or a Telegram account.

A code request is counted against its requester as well as its phone, so one requester cannot
use up a phone's daily cap (``OTP_DAILY_CAP_PER_REQUESTER`` against ``OTP_DAILY_CAP``). An IPv6
address is grouped by its /64: one subscriber routinely holds the whole /64 and can pick a fresh
address in it for every request. IPv4 addresses count one by one. The REST API passes the client
address; a Telegram adapter (the bot's phone link) passes the account id, which Telegram vouches
for and which is the only identity a bot update carries.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPV6_GROUP_PREFIX = 64
NETWORK_MAX_CHARS = 64  # fits ``otp_codes.client_network``


@dataclass(frozen=True, slots=True)
class Requester:
    """The identities one code request is counted against; either may be absent."""

    network: str | None = None
    telegram_user_id: int | None = None

    @classmethod
    def of(cls, *, client_address: str | None, telegram_user_id: int | None) -> Requester:
        """The requester of a call from ``client_address`` and/or a Telegram account."""
        return cls(network=client_network(client_address), telegram_user_id=telegram_user_id)

    @property
    def known(self) -> bool:
        return self.network is not None or self.telegram_user_id is not None


def client_network(address: str | None) -> str | None:
    """``address`` as counted: IPv6 as its /64 network, IPv4 or anything else unchanged."""
    if not address:
        return None
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address[:NETWORK_MAX_CHARS]  # e.g. "unknown": such callers share one bucket
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        network = ipaddress.IPv6Network((parsed, IPV6_GROUP_PREFIX), strict=False)
        return str(network)
    return str(parsed)
