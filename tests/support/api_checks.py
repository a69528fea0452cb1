"""Assertions shared by the REST tests."""

from __future__ import annotations

from typing import Any


async def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the docs/architecture.md §3 error envelope with ``status`` and ``code``."""
    body = await response.json()
    assert response.status == status, (response.status, body)
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]
