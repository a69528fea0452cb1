"""An injectable clock: services take ``now()`` from here so tests can move time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class Clock:
    """Aware UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FrozenClock(Clock):
    """A clock that only moves when told to (tests and benchmarks)."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 8, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current
