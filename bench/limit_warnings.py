"""Cost of one ``limit_warnings`` check (core/services/limit_warnings.py), the job that runs every
five minutes.

Run: ``.venv/bin/python -m bench.limit_warnings`` (PostgreSQL must be running; it creates and drops
the database named by ``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/contexor_bench_warnings``). It seeds ``--orgs``
organisations of ``--workspaces`` workspaces and ``--members`` members, with the six usage
counters of every scope for the current day and month and ``--history`` past days of daily
counters, a limit on every member, and then times:

1. a check where nobody is near a limit (the steady state, what most runs cost);
2. a check where every tenth member passes 80% (the run that writes the warnings);
3. the same check again (everything already warned: must write nothing).

Options: ``--orgs N`` (50), ``--workspaces N`` (5), ``--members N`` (20), ``--history N`` (60),
``--repeat N`` (5, the steady-state median is reported), ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import timedelta
from pathlib import Path
from tempfile import mkdtemp

import db as database
from core.container import build_services
from core.services.limit_warnings import LimitWarningService
from core.settings import Settings
from db.models import (
    Membership,
    Organization,
    Role,
    UsageCounter,
    UsageLimit,
    UsagePeriod,
    UsageScope,
    User,
    Workspace,
)
from tests.support.databases import create_scratch_database, drop_scratch_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contexor_bench_warnings"


async def main(args: argparse.Namespace) -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    await create_scratch_database(url)
    await database.migrate(url)
    await database.close()
    await database.init(url)
    try:
        await run(url, args)
    finally:
        await database.close()
        if not args.keep:
            await drop_scratch_database(url)


async def seed(services, args: argparse.Namespace) -> list[UsageCounter]:
    usage = services.usage
    now = services.clock.now()
    day, month = usage.period_key(UsagePeriod.DAILY), usage.period_key(UsagePeriod.MONTHLY)
    past = [
        usage.period_key(UsagePeriod.DAILY, now - timedelta(days=n + 1))
        for n in range(args.history)
    ]
    counters: list[UsageCounter] = []
    limits: list[UsageLimit] = []
    member_counters: list[UsageCounter] = []
    for o in range(args.orgs):
        org = await Organization.create(name=f"org {o}", slug=f"org-{o}")
        workspaces = await Workspace.bulk_create(
            [
                Workspace(organization=org, name=f"w{w}", slug=f"w{w}")
                for w in range(args.workspaces)
            ]
        )
        workspaces = await Workspace.filter(organization=org)
        users = [User(phone_number=f"+98912{o:03d}{m:04d}") for m in range(args.members)]
        await User.bulk_create(users)
        users = await User.filter(phone_number__startswith=f"+98912{o:03d}")
        await Membership.bulk_create(
            [Membership(organization=org, user=u, role=Role.WRITER) for u in users]
        )
        scopes = [(UsageScope.ORGANIZATION, org.id)]
        scopes += [(UsageScope.WORKSPACE, w.id) for w in workspaces]
        scopes += [(UsageScope.USER, u.id) for u in users]
        for scope, scope_id in scopes:
            for period, key in ((UsagePeriod.DAILY, day), (UsagePeriod.MONTHLY, month)):
                row = UsageCounter(
                    organization=org,
                    scope=scope,
                    scope_id=scope_id,
                    period=period,
                    period_key=key,
                    requests=1,
                )
                counters.append(row)
                if scope is UsageScope.USER and period is UsagePeriod.DAILY:
                    member_counters.append(row)
            counters += [
                UsageCounter(
                    organization=org,
                    scope=scope,
                    scope_id=scope_id,
                    period=UsagePeriod.DAILY,
                    period_key=key,
                    requests=100,
                )
                for key in past
            ]
        limits += [
            UsageLimit(
                organization=org,
                scope=UsageScope.USER,
                scope_id=u.id,
                period=UsagePeriod.DAILY,
                requests_limit=10,
            )
            for u in users
        ]
    for start in range(0, len(counters), 5000):
        await UsageCounter.bulk_create(counters[start : start + 5000])
    await UsageLimit.bulk_create(limits)
    print(f"seeded {len(counters)} counters ({len(limits)} member limits)")
    return member_counters


async def timed(service: LimitWarningService) -> tuple[float, dict]:
    started = time.perf_counter()
    result = await service.check()
    return time.perf_counter() - started, result


async def run(url: str, args: argparse.Namespace) -> None:
    settings = Settings(
        _env_file=None,
        database_url=url,
        data_dir=Path(mkdtemp(prefix="bench-warnings-")),
        secret_key="bench-secret-key-that-is-long-enough-for-hs256-0123456789",
        sms_backend="console",
        llm_backend="offline",
    )
    services = build_services(settings)
    try:
        await seed(services, args)
        service = LimitWarningService(
            usage=services.usage, outbox=services.outbox, clock=services.clock
        )
        quiet = [(await timed(service))[0] for _ in range(args.repeat)]
        print(
            f"steady state (nobody near a limit): median {statistics.median(quiet) * 1000:.0f} ms"
        )
        day = services.usage.period_key(UsagePeriod.DAILY)
        ids = (
            await UsageCounter.filter(
                scope=UsageScope.USER, period=UsagePeriod.DAILY, period_key=day
            )
            .order_by("id")
            .values_list("id", flat=True)
        )
        await UsageCounter.filter(id__in=ids[::10]).update(requests=9)
        seconds, result = await timed(service)
        print(f"first check past 80%: {seconds * 1000:.0f} ms, {result}")
        seconds, result = await timed(service)
        print(f"the same check again: {seconds * 1000:.0f} ms, {result}")
    finally:
        await services.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=50)
    parser.add_argument("--workspaces", type=int, default=5)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--history", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    asyncio.run(main(parser.parse_args()))
