"""The Tortoise configuration, built from a database URL.

``TORTOISE_ORM`` is what the ``tortoise`` CLI reads (``[tool.tortoise]`` in pyproject.toml) to
generate migrations; it takes ``DATABASE_URL`` from the environment like the product does.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

MODELS_MODULE = "db.models"
MIGRATIONS_MODULE = "db.migrations"
DEFAULT_DATABASE_URL = "sqlite://data/contexor.sqlite3"


POSTGRES_SCHEMES = ("postgres", "postgresql", "asyncpg", "psycopg")


def with_pool_size(database_url: str, pool_size: int | None) -> str:
    """``database_url`` with the PostgreSQL pool's ``maxsize`` (one the URL names wins)."""
    parts = urlsplit(database_url)
    if pool_size is None or parts.scheme not in POSTGRES_SCHEMES:
        return database_url
    query = dict(parse_qsl(parts.query))
    query.setdefault("maxsize", str(pool_size))
    query["minsize"] = str(min(int(query.get("minsize", 1)), int(query["maxsize"])))
    return parts._replace(query=urlencode(query)).geturl()


def tortoise_config(database_url: str, *, pool_size: int | None = None) -> dict[str, Any]:
    """A Tortoise config dict with our one app, its migrations module, and aware UTC times."""
    return {
        "connections": {"default": _connection(with_pool_size(database_url, pool_size))},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(database_url: str) -> str | dict[str, Any]:
    """The URL, or for PostgreSQL its expansion with a pool that skips the per-release reset
    (``db/pool.py``)."""
    if not database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return database_url
    from tortoise.backends.base.config_generator import expand_db_url

    from db.pool import StatelessConnection

    expanded = expand_db_url(database_url)
    if expanded["engine"] != "tortoise.backends.asyncpg":
        return database_url
    expanded["credentials"]["connection_class"] = StatelessConnection
    return expanded


TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
