"""The Tortoise configuration, built from a database URL.

``TORTOISE_ORM`` is what the ``tortoise`` CLI reads (``[tool.tortoise]`` in pyproject.toml) to
generate migrations; it takes ``DATABASE_URL`` from the environment like the product does.
"""

from __future__ import annotations

import os
from typing import Any

MODELS_MODULE = "db.models"
MIGRATIONS_MODULE = "db.migrations"
DEFAULT_DATABASE_URL = "sqlite://data/contexor.sqlite3"


def tortoise_config(database_url: str) -> dict[str, Any]:
    """A Tortoise config dict with our one app, its migrations module, and aware UTC times."""
    return {
        "connections": {"default": database_url},
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


TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
