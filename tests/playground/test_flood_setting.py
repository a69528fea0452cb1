"""PLAYGROUND_FLOOD_LIMITS switches Telegram's flood limits on in the playground's Bot API."""

from __future__ import annotations

import pytest

from bot.local_api import FloodLimits
from bot.playground import Playground
from core.clock import FrozenClock
from core.container import build_services
from core.settings import Settings


@pytest.mark.parametrize(("value", "limits"), [(None, None), ("1", FloodLimits()), ("0", None)])
async def test_the_setting_switches_the_local_apis_flood_limits(
    settings: Settings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    value: str | None,
    limits: FloodLimits | None,
) -> None:
    if value is not None:
        monkeypatch.setenv("PLAYGROUND_FLOOD_LIMITS", value)
    from_env = Settings(_env_file=None, **settings.model_dump(exclude={"playground_flood_limits"}))
    services = build_services(from_env, clock=clock)
    try:
        assert Playground(services).api.flood_limits == limits
    finally:
        await services.aclose()
