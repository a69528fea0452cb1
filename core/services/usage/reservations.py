"""Reservations: hold the worst case before the model is called, settle or release afterwards.

Before the model is called, :meth:`UsageReservations.reserve` adds one request and the
worst-case tokens and cost to the *reserved* columns of all six counters in one conditional
``UPDATE``, inside the caller's transaction: if any row is refused the caller's transaction rolls
back what the others took, and on PostgreSQL the row locks make N concurrent requests against K
remaining let exactly K through, across processes. Every writer locks counters in id order
(``ORDER BY id FOR UPDATE``), so reservations and settlements never deadlock. Afterwards
:meth:`UsageReservations.settle` moves the reservation to the used columns with the actual figures
and writes the ``UsageLog`` (once per reservation); :meth:`UsageReservations.release` returns it
when nothing was consumed. All six counters are kept even where no limit applies, so a limit
added in the middle of a period starts from what was really used.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from itertools import product

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from core.llm.base import Usage
from core.services.usage import counters
from core.services.usage.counters import CounterKey
from core.services.usage.errors import UsageLimitExceeded
from core.services.usage.limits import UsageLimits
from core.services.usage.periods import PeriodsInConfiguredZone
from core.services.usage.values import (
    NOTHING,
    PERIODS,
    SCOPES,
    Amount,
    UsageScopes,
    quantize_cost,
)
from db.models import GenerationJob, ReservationStatus, UsageCounter, UsageLog, UsageReservation

_SETTLED = ReservationStatus.SETTLED


class UsageReservations(PeriodsInConfiguredZone, UsageLimits):
    """The reservation half of :class:`~core.services.usage.UsageService`."""

    async def check_room(self, scopes: UsageScopes, *, at: datetime | None = None) -> None:
        """Refuse early (:class:`UsageLimitExceeded`) when a scope has no room for one more call.

        Read-only and lock-free, for the generation service to call before it renders or
        estimates anything: a person at their limit costs the server nothing. Room for one
        request, one token and more than nothing in cost is all it asks; :meth:`reserve` stays
        the authority with the real figures.
        """
        at = at or self._clock.now()
        caps = await self.effective_caps(scopes)
        keys = {
            (scope, period): self.period_key(period, at)
            for scope, _ in scopes.pairs()
            for period in PERIODS
        }
        ids = dict(scopes.pairs())
        condition = Q(
            *(
                Q(scope=scope, scope_id=ids[scope], period=period, period_key=key)
                for (scope, period), key in keys.items()
            ),
            join_type="OR",
        )
        found = {(c.scope, c.period): c for c in await UsageCounter.filter(condition)}
        for scope, period in product(SCOPES, PERIODS):
            cap, counter = caps[scope, period], found.get((scope, period))
            if not cap.any:
                continue
            taken = (
                NOTHING
                if counter is None
                else Amount(
                    counter.requests + counter.reserved_requests,
                    counter.tokens + counter.reserved_tokens,
                    counter.cost_usd + counter.reserved_cost_usd,
                )
            )
            full: list[tuple[str, int | Decimal | None]] = [
                ("requests", cap.requests if taken.requests + 1 > (cap.requests or 0) else None),
                ("tokens", cap.tokens if taken.tokens + 1 > (cap.tokens or 0) else None),
                ("cost", cap.cost_usd if taken.cost_usd >= (cap.cost_usd or 0) else None),
            ]
            for kind, limit in full:
                if limit is not None:
                    raise UsageLimitExceeded(
                        scope=scope,
                        period=period,
                        kind=kind,
                        limit=limit,
                        resets_at=self.period_bounds(period, at)[1],
                    )

    async def reserve(
        self,
        *,
        connection: BaseDBAsyncClient,
        job_id: int,
        scopes: UsageScopes,
        tokens: int,
        cost_usd: Decimal,
        at: datetime | None = None,
    ) -> UsageReservation:
        """Hold one request plus ``tokens`` and ``cost_usd`` in every scope, or refuse.

        Runs on ``connection``, which must be a transaction: a :class:`UsageLimitExceeded`
        raised here rolls back what the other scopes already took.
        """
        at = at or self._clock.now()
        want = Amount(requests=1, tokens=tokens, cost_usd=quantize_cost(cost_usd))
        caps = await self.effective_caps(scopes, connection=connection)
        keys = [
            CounterKey(scopes.organization_id, scope, scope_id, period, self.period_key(period, at))
            for scope, scope_id in scopes.pairs()
            for period in PERIODS
        ]
        rows = await counters.ensure_counters(connection, keys, at)
        reservation = await UsageReservation.create(
            using_db=connection,
            job_id=job_id,
            requests=want.requests,
            tokens=want.tokens,
            cost_usd=want.cost_usd,
            counter_ids=sorted(c.id for c in rows),
            status=ReservationStatus.HELD,
        )
        # The contended row locks come last, so they are held only until the caller commits.
        held = await counters.hold(connection, rows, caps, want, at)
        if len(held) < len(rows):
            refused = [c for c in rows if c.id not in held]
            resets = {period: self.period_bounds(period, at)[1] for period in PERIODS}
            raise await counters.refusal(connection, refused, caps, want, resets)
        return reservation

    async def settle(
        self,
        *,
        connection: BaseDBAsyncClient,
        job: GenerationJob,
        model: str,
        usage: Usage,
        cost_usd: Decimal,
        success: bool,
        error: str | None = None,
        duration_ms: int | None = None,
        at: datetime | None = None,
    ) -> UsageLog | None:
        """Charge what a call consumed: reserved -> used in its counters, plus a usage log.

        ``at`` is when the usage is logged; pass the reservation's time so the log and the
        counters agree on the period. A reservation that was already released (the job was
        reaped while its call went on) still gets the usage added, so nothing is lost. Each
        reservation is charged at most once: None (and nothing written) when already settled.
        """
        now = self._clock.now()
        at = at or now
        used = Amount(requests=1, tokens=usage.total_tokens, cost_usd=quantize_cost(cost_usd))
        closed = await counters.close(
            connection, job.id, ReservationStatus.HELD, to=_SETTLED, at=now
        )
        free = NOTHING if closed is None else closed.amount
        if closed is None:
            # Released when its job was reaped while the call went on: what it held is back.
            closed = await counters.close(
                connection, job.id, ReservationStatus.RELEASED, to=_SETTLED, at=now
            )
            if closed is None:
                return None  # already settled: a reservation is charged once
        log = await UsageLog.create(
            using_db=connection,
            organization_id=job.organization_id,
            workspace_id=job.workspace_id,
            user_id=job.user_id,
            content_id=job.content_id,
            job_id=job.id,
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            cost_usd=used.cost_usd,
            success=success,
            error=error,
            duration_ms=duration_ms,
            created_at=at,
        )
        # The contended counters last, so their row locks are held the shortest time.
        await counters.move(connection, closed.counter_ids, add=used, free=free, at=now)
        return log

    async def release(self, *, connection: BaseDBAsyncClient, job_id: int) -> bool:
        """Give back what a job holds because nothing was consumed; False if already closed."""
        at = self._clock.now()
        closed = await counters.close(
            connection, job_id, ReservationStatus.HELD, to=ReservationStatus.RELEASED, at=at
        )
        if closed is None:
            return False
        await counters.move(connection, closed.counter_ids, add=NOTHING, free=closed.amount, at=at)
        return True
