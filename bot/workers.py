"""``API_WORKERS``: the REST sidecar served by several processes that share one port.

One Python process uses one core; the REST sidecar is CPU-bound under load, so ``contexor run``
starts ``API_WORKERS`` worker processes (default: the core count when PostgreSQL and Redis are
configured) that each bind the API port with ``SO_REUSEPORT``; the kernel spreads connections
among them. Only worker 0 also runs the Telegram bot and the scheduler (one poller, one delivery
worker, one scheduler), so those stay single whatever the count.

SQLite, or no Redis, means one process: SQLite has one writer, and the rate limits, send
claims and caches live in process memory without Redis, where several workers would each keep
their own (``core/security/rate_limit.py``, ``core/security/locks.py``).

This process (the supervisor) serves nothing itself: it applies migrations once when
``AUTO_MIGRATE`` is on (workers never race on them), holds the port (when ``API_PORT=0`` it
picks a free one and keeps it bound so every worker shares it), starts each worker as
``python -m bot.workers``, restarts a worker that dies (after a pause that grows while it keeps
dying at once), and on SIGTERM or SIGINT forwards SIGTERM to every worker, waits for them to
stop cleanly (``SHUTDOWN_GRACE_SECONDS`` and a margin, then SIGKILL) and exits 0. A worker
whose supervisor is gone stops itself, so no orphan keeps the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

import db
from bot.runtime import run_product
from core.logging import configure_logging
from core.settings import Settings

logger = logging.getLogger("contexor.workers")

# Beyond the workers' own SHUTDOWN_GRACE_SECONDS (running generations finish first).
STOP_MARGIN_SECONDS = 15.0
RESTART_PAUSE_SECONDS = 1.0
MAX_RESTART_PAUSE_SECONDS = 30.0
# A worker that lived this long before dying is restarted after the shortest pause again.
HEALTHY_AFTER_SECONDS = 10.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def api_worker_count(settings: Settings) -> int:
    """``API_WORKERS``; by default the core count with PostgreSQL and Redis, else 1.

    Always 1 on SQLite, without Redis (see above) or with the development playground
    (``Settings.runs_playground``), whatever was asked.
    """
    shared_state = not settings.uses_sqlite and bool(settings.redis_url)
    # The development playground's page and fake Bot API live in one process's sidecar.
    if not shared_state or settings.runs_playground:
        if settings.api_workers not in (None, 1):
            logger.warning(
                "API_WORKERS=%s ignored: several workers need PostgreSQL and Redis, and no"
                " playground",
                settings.api_workers,
            )
        return 1
    return settings.api_workers or os.cpu_count() or 1


@dataclass
class _Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    pause: float = RESTART_PAUSE_SECONDS
    task: asyncio.Task[None] | None = field(default=None, repr=False)


async def run_workers(settings: Settings, count: int, *, bot: bool, scheduler: bool) -> None:
    """Supervise ``count`` API workers until SIGTERM/SIGINT; bot and scheduler in worker 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if settings.auto_migrate:
        await db.migrate(settings.database_url)
        await db.close()
    with _shared_port(settings) as port:
        env = {**os.environ, "API_PORT": str(port), "AUTO_MIGRATE": "false"}
        workers = [_Worker(index) for index in range(count)]
        for worker in workers:
            argv = _worker_argv(worker.index, bot=bot and worker.index == 0, scheduler=scheduler)
            grace = settings.shutdown_grace_seconds + STOP_MARGIN_SECONDS
            worker.task = asyncio.create_task(_keep_running(worker, argv, env, stop, grace))
        logger.info("API served by %d worker processes on port %s", count, port)
        await stop.wait()
        logger.info("stopping %d workers", count)
        await asyncio.gather(*(w.task for w in workers if w.task is not None))


def _worker_argv(index: int, *, bot: bool, scheduler: bool) -> list[str]:
    argv = [sys.executable, "-m", "bot.workers", "--index", str(index)]
    argv += ["--supervisor", str(os.getpid())]
    if index == 0 and bot:
        argv.append("--bot")
    if index == 0 and scheduler:
        argv.append("--scheduler")
    return argv


async def _keep_running(
    worker: _Worker, argv: list[str], env: dict[str, str], stop: asyncio.Event, grace: float
) -> None:
    """Start the worker, restart it whenever it dies, stop it when ``stop`` is set."""
    while not stop.is_set():
        worker.process = await asyncio.create_subprocess_exec(*argv, env=env)
        worker.started_at = time.monotonic()
        logger.info("worker %d started (pid %d)", worker.index, worker.process.pid)
        exited = asyncio.create_task(worker.process.wait())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            exited.cancel()
            await _stop(worker, grace)
            return
        stopping.cancel()
        worker.pause = _next_pause(worker)
        logger.error(
            "worker %d (pid %d) exited with %s; restarting in %.0f s",
            worker.index,
            worker.process.pid,
            worker.process.returncode,
            worker.pause,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), worker.pause)


def _next_pause(worker: _Worker) -> float:
    if time.monotonic() - worker.started_at >= HEALTHY_AFTER_SECONDS:
        return RESTART_PAUSE_SECONDS
    return min(worker.pause * 2, MAX_RESTART_PAUSE_SECONDS)


async def _stop(worker: _Worker, grace: float) -> None:
    process = worker.process
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        logger.error("worker %d did not stop in %.0f s; killing it", worker.index, grace)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    logger.info("worker %d stopped (exit %s)", worker.index, process.returncode)


@contextlib.contextmanager
def _shared_port(settings: Settings):
    """The port every worker binds; ``API_PORT=0`` picks one, held (not listening) meanwhile."""
    if settings.api_port != 0:
        yield settings.api_port
        return
    family = socket.AF_INET6 if ":" in settings.api_host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((settings.api_host, 0))
        yield holder.getsockname()[1]
    finally:
        holder.close()


# --- one worker process ------------------------------------------------------------------------


async def _run_worker(settings: Settings, args: argparse.Namespace) -> None:
    await run_product(settings, bot=args.bot, api=True, scheduler=args.scheduler, reuse_port=True)


def _stop_with_the_supervisor(supervisor: int) -> None:
    """Ask Linux for SIGTERM (our clean stop) when the supervisor dies; elsewhere do nothing."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.workers", description=__doc__)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--bot", action="store_true")
    parser.add_argument("--scheduler", action="store_true")
    parser.add_argument("--supervisor", type=int, required=True)
    args = parser.parse_args(argv)
    _stop_with_the_supervisor(args.supervisor)
    settings = Settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run_worker(settings, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
