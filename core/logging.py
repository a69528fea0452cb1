"""Logging set up once by the composition root: structlog over the standard library.

``LOG_FORMAT=json`` renders one JSON object per line for production; ``text`` is for people.
Third-party loggers (aiohttp, tortoise, httpx) go through the same renderer.
"""

from __future__ import annotations

import logging
import sys

import structlog

NOISY_LOGGERS = ("httpx", "httpx2", "aiosqlite", "asyncio", "tortoise", "apscheduler")
# Loggers that repeat an outage with a traceback on every reconnect try (asyncpg's pool refilling
# its floor): the outage itself is logged once when it starts and once when it ends
# (core/api/availability.py), so only their errors are kept.
OUTAGE_ECHOES = ("asyncpg.pool",)


def configure_logging(*, level: str = "INFO", fmt: str = "text") -> None:
    """Route every log record to stderr in ``fmt`` at ``level``."""
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in OUTAGE_ECHOES:
        logging.getLogger(name).setLevel(max(logging.ERROR, root.level))
