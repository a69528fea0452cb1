"""Counting the SQL statements the ORM sends, to prove that lists issue no query per row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tortoise import connections

# Every path by which Tortoise sends SQL (selects go through execute_query).
_METHODS = ("execute_query", "execute_query_dict", "execute_insert", "execute_many")


@dataclass
class QueryLog:
    """The statements seen while recording, in order."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def recording_queries(connection_name: str = "default") -> Iterator[QueryLog]:
    """Record every statement of the connection's client class (all tasks) while inside."""
    client_class = type(connections.get(connection_name))
    log = QueryLog()
    saved: dict[str, Any] = {}
    for name in _METHODS:
        saved[name] = client_class.__dict__.get(name)
        original = getattr(client_class, name)

        def wrapper(self: Any, query: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
            log.statements.append(query)
            return _original(self, query, *args, **kw)

        setattr(client_class, name, wrapper)
    try:
        yield log
    finally:
        for name, own in saved.items():
            if own is None:
                delattr(client_class, name)
            else:
                setattr(client_class, name, own)
