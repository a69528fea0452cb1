"""The operator command line (docs/architecture.md §3): ``contexor run|migrate|bootstrap|jobs|
status``.

Exit status: 0 success, 2 bad arguments, 1 failure; a one-line reason goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError
from tortoise.exceptions import BaseORMException

import db
from bot.runtime import DatabaseUnreachable, run_product
from bot.workers import api_worker_count, run_workers
from core.errors import DomainError, InvalidInput
from core.logging import configure_logging
from core.settings import Settings, production_problems

if TYPE_CHECKING:
    from core.container import Services
    from db.models import JobRun
    from scheduler.setup import JobSpec

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A failure with a one-line reason and an exit status."""

    def __init__(self, reason: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(reason)
        self.status = status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contexor", description="Contexor content studio")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot, the REST API and the scheduler")
    run.add_argument("--no-bot", action="store_true", help="do not start the Telegram bot")
    run.add_argument("--no-api", action="store_true", help="do not start the REST sidecar")
    run.add_argument("--no-scheduler", action="store_true", help="do not run periodic jobs")

    commands.add_parser("migrate", help="apply pending database migrations")

    boot = commands.add_parser("bootstrap", help="create an organisation and its first admin")
    boot.add_argument("--phone", required=True, help="the admin's mobile number")
    boot.add_argument("--org", required=True, help="the organisation's name")
    boot.add_argument("--name", default=None, help="the admin's full name")

    user = commands.add_parser("user", help="switch a user off (ending their sessions) or on")
    user.add_argument("action", choices=("deactivate", "activate"))
    user.add_argument("--phone", required=True, help="the user's mobile number")
    org = commands.add_parser("org", help="switch an organisation off or on")
    org.add_argument("action", choices=("deactivate", "activate"))
    org.add_argument("--slug", required=True, help="the organisation's slug")

    jobs = commands.add_parser("jobs", help="list or run the scheduler's jobs")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    job_commands.add_parser("list", help="list the jobs and their schedules")
    run_one = job_commands.add_parser("run", help="run one job now")
    run_one.add_argument("name")

    commands.add_parser(
        "status", help="bot lease holder, instances, queue depths and recent job runs"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, load settings, dispatch; map every failure to an exit status and one line."""
    args = build_parser().parse_args(argv)  # exits 2 on bad arguments
    try:
        settings = load_settings()
        configure_logging(level=settings.log_level, fmt=settings.log_format)
        return asyncio.run(COMMANDS[args.command](settings, args))
    except CliError as exc:
        print(f"contexor: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # an operator reads one line; LOG_LEVEL=DEBUG shows the rest
        logging.getLogger("contexor").debug("the command failed", exc_info=True)
        print(f"contexor: {args.command} failed: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE


def load_settings() -> Settings:
    """Settings from the environment; production refuses every development default at once."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper() or 'settings'}: {e['msg']}"
            for e in exc.errors()
        )
        raise CliError(f"invalid configuration: {problems}", EXIT_USAGE) from exc
    problems = production_problems(settings)
    if problems:
        raise CliError("refusing to start in production: " + "; ".join(problems))
    return settings


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.startup import StartupFailure, describe_start, preflight, startup_failure

    parts = {"bot": not args.no_bot, "api": not args.no_api, "scheduler": not args.no_scheduler}
    try:
        await preflight(settings, api=parts["api"])
        logging.getLogger("contexor").info(describe_start(settings, **parts))
        workers = api_worker_count(settings)
        if parts["api"] and workers > 1:  # several API processes: bot/workers.py
            await run_workers(settings, workers, bot=parts["bot"], scheduler=parts["scheduler"])
        else:
            await run_product(settings, **parts)
    except (StartupFailure, DatabaseUnreachable) as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:
        reason = startup_failure(exc, settings)
        if reason is None:
            raise
        raise CliError(reason) from exc
    return EXIT_OK


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.startup import database_label

    try:
        applied = await db.migrate(settings.database_url)
    except Exception as exc:
        raise CliError(f"migration failed: {exc}") from exc
    finally:
        await db.close()
    where = database_label(settings)
    if applied:
        print(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
    else:
        print(f"{where} is up to date; no migration to apply")
    return EXIT_OK


async def cmd_bootstrap(settings: Settings, args: argparse.Namespace) -> int:
    import redis.asyncio as aioredis

    from core.bootstrap import bootstrap  # the CLI's other commands need none of it
    from core.clock import Clock
    from core.security.principal_cache import PrincipalCache
    from core.services.list_totals import ListTotals

    async def work() -> str:
        # The running API caches list totals and principals by Redis marks; a reactivated
        # organisation or a new admin changes them.
        redis = aioredis.from_url(settings.redis_url) if settings.redis_url else None
        prefix = settings.redis_key_prefix
        totals = ListTotals(redis, key_prefix=prefix, ttl_seconds=settings.list_total_cache_seconds)
        principals = PrincipalCache(
            redis, key_prefix=prefix, ttl_seconds=settings.principal_cache_seconds
        )
        try:
            result = await bootstrap(
                phone=args.phone,
                org_name=args.org,
                full_name=args.name,
                clock=Clock(),
                phone_regions=settings.phone_regions,
                totals=totals,
                principals=principals,
            )
        finally:
            if redis is not None:
                await redis.aclose()
        summary = {
            "organization": {"id": result.organization.id, "slug": result.organization.slug},
            "admin": {"id": result.admin.id, "phone_number": result.admin.phone_number},
            "workspace": result.workspace.id,
            "project": result.project.id,
            "created_organization": result.created_organization,
            "created_user": result.created_user,
            "made_admin": result.made_admin,
            "prompts_added": result.prompts_added,
        }
        return json.dumps(summary, ensure_ascii=False)

    print(await _with_database(settings, work))
    return EXIT_OK


async def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    """Deactivate (sessions revoked, refused from the next request) or reactivate a user."""

    async def work(services: Services) -> dict[str, object]:
        user = await services.accounts.set_user_active(args.phone, active=args.action == "activate")
        return {"user": user.id, "phone_number": user.phone_number, "active": user.is_active}

    return await _account_command(settings, work)


async def cmd_org(settings: Settings, args: argparse.Namespace) -> int:
    """Deactivate (hidden from its members from the next request) or reactivate an organisation."""

    async def work(services: Services) -> dict[str, object]:
        organization = await services.accounts.set_organization_active(
            args.slug, active=args.action == "activate"
        )
        return {
            "organization": organization.id,
            "slug": organization.slug,
            "active": organization.is_active,
        }

    return await _account_command(settings, work)


async def _account_command(
    settings: Settings, work: Callable[[Services], Awaitable[dict[str, object]]]
) -> int:
    from core.container import build_services

    async def run() -> str:
        services = build_services(settings)
        try:
            return json.dumps(await work(services), ensure_ascii=False)
        finally:
            await services.aclose()

    print(await _with_database(settings, run))
    return EXIT_OK


async def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    from core.container import build_services
    from scheduler.guard import last_runs
    from scheduler.setup import JOBS, job_named, run_now

    if args.jobs_command == "list":

        async def listing() -> str:
            runs = await last_runs([job.name for job in JOBS])
            return "\n".join(_job_line(job, runs.get(job.name)) for job in JOBS)

        print(await _with_database(settings, listing))
        return EXIT_OK
    job = job_named(args.name)
    if job is None:
        raise CliError(f"no job named {args.name!r}; see 'contexor jobs list'", EXIT_USAGE)

    async def work() -> str:
        services = build_services(settings)
        try:
            result = await run_now(job, services)
            return json.dumps(result.detail)
        finally:
            await services.aclose()

    print(await _with_database(settings, work))
    return EXIT_OK


async def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from bot.status import collect_status, render

    async def report() -> str:
        try:
            return render(await collect_status(settings))
        except RedisError as exc:  # its connection errors too
            raise CliError(f"cannot read the status from Redis: {exc}") from exc

    try:
        print(await _with_database(settings, report))
    except (OSError, BaseORMException) as exc:
        raise CliError(f"cannot read the status from the database: {exc}") from exc
    return EXIT_OK


def _job_line(job: JobSpec, run: JobRun | None) -> str:
    """One row of ``jobs list``: name, schedule, the last run's start and outcome, description."""
    if run is None:
        last = "never run"
    else:
        outcome = {True: "ok", False: "failed", None: "running"}[run.succeeded]
        last = f"{run.started_at.isoformat(timespec='seconds')} {outcome} {json.dumps(run.detail)}"
    return f"{job.name:28} {job.schedule_text:24} {last:48} {job.description}"


async def _with_database(settings: Settings, work: Callable[[], Awaitable[str]]) -> str:
    """Run ``work`` with the database open (migrated first when it is the embedded default)."""
    await _open_database(settings)
    try:
        return await work()
    except InvalidInput as exc:
        raise CliError(exc.message("en"), EXIT_USAGE) from exc
    except DomainError as exc:
        raise CliError(exc.message("en")) from exc
    finally:
        await db.close()


async def _open_database(settings: Settings) -> None:
    """Open (and on the embedded default, migrate) the database, or fail with one line."""
    from bot.startup import database_label

    try:
        if settings.uses_sqlite or settings.auto_migrate:
            await db.migrate(settings.database_url)
            await db.close()
        await db.init(settings.database_url)
    except (OSError, BaseORMException) as exc:
        await db.close()
        where = database_label(settings)
        raise CliError(f"cannot reach the database {where}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Awaitable[int]]] = {
    "run": cmd_run,
    "migrate": cmd_migrate,
    "bootstrap": cmd_bootstrap,
    "user": cmd_user,
    "org": cmd_org,
    "jobs": cmd_jobs,
    "status": cmd_status,
}
