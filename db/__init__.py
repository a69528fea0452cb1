"""The data layer: models, migrations and the one place that opens and closes the database.

Tortoise 1.x keeps its context in a ContextVar of the task that called ``init``; call
:func:`init` from the composition root's main task before starting the bot, API or scheduler so
every task they create sees the ORM (see db/__init__.py).

Tortoise.init also writes ``TIMEZONE=UTC`` and ``USE_TZ`` into ``os.environ`` (and reads them
back for its own conversions). Our ``TIMEZONE`` setting shares that name, so ``Settings`` must be
read before the database is opened; the composition root and the CLI do exactly that.
"""

from __future__ import annotations

from pathlib import Path

from tortoise import Tortoise
from tortoise.migrations.api import migrate as _migrate

from db.config import tortoise_config


async def init(database_url: str, *, pool_size: int | None = None) -> None:
    """Open the connection pool for ``database_url`` (creating a SQLite file's folder).

    The context is also made the process-wide fallback: this process has exactly one ORM, and
    PTB, aiohttp and APScheduler create tasks and callbacks whose context we do not control.
    """
    _ensure_sqlite_folder(database_url)
    config = tortoise_config(database_url, pool_size=pool_size)
    await Tortoise.init(config=config, _enable_global_fallback=True)


async def close() -> None:
    """Close every connection; without it aiosqlite's thread keeps the process alive."""
    await Tortoise.close_connections()


async def migrate(database_url: str) -> list[str]:
    """Apply every pending migration (a no-op when the schema is current); returns the names
    of those applied, oldest first (``models.0007_outbox``)."""
    _ensure_sqlite_folder(database_url)
    applied: list[str] = []

    def record(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")

    await _migrate(config=tortoise_config(database_url), progress=record)
    return applied


def _ensure_sqlite_folder(database_url: str) -> None:
    if database_url.startswith("sqlite://") and ":memory:" not in database_url:
        Path(database_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
