"""The client address used for rate limits, with and without trusted proxies."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from core.api.client_address import client_address

PROXIES = ["10.0.0.0/8", "fd00::/8"]


def request_from(peer: str | None, *forwarded: str):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 40000) if name == "peername" and peer is not None else default
    )
    headers = CIMultiDict(("X-Forwarded-For", value) for value in forwarded)
    return make_mocked_request(
        "POST", "/api/auth/otp/request", headers=headers, transport=transport
    )


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", (), "203.0.113.5"),
        ("203.0.113.5", ("198.51.100.1",), "203.0.113.5"),  # untrusted peer: header ignored
        ("10.0.0.2", ("198.51.100.1",), "198.51.100.1"),
        ("10.0.0.2", ("6.6.6.6, 198.51.100.1",), "198.51.100.1"),  # forged left part ignored
        ("10.0.0.2", ("198.51.100.1, 10.0.0.9",), "198.51.100.1"),  # two proxies
        ("10.0.0.2", ("6.6.6.6", "198.51.100.1"), "198.51.100.1"),  # repeated header
        ("10.0.0.2", ("garbage, 198.51.100.1",), "198.51.100.1"),
        ("10.0.0.2", ("198.51.100.1, garbage",), "10.0.0.2"),
        ("10.0.0.2", (), "10.0.0.2"),
        ("10.0.0.2", ("10.0.0.3",), "10.0.0.2"),
        ("fd00::1", ("2001:db8::7",), "2001:db8::7"),
        ("::ffff:203.0.113.5", (), "203.0.113.5"),
        (None, ("198.51.100.1",), "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: tuple[str, ...], expected: str) -> None:
    assert client_address(request_from(peer, *forwarded), PROXIES) == expected


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address(request_from("10.0.0.2", "198.51.100.1"), []) == "10.0.0.2"
