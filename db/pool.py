"""The asyncpg connection the pool hands to Tortoise: released without a reset round trip.

asyncpg's pool resets a connection each time it is released (``pg_advisory_unlock_all(); CLOSE
ALL; UNLISTEN *; RESET ALL``), and Tortoise acquires and releases a pooled connection for every
statement it runs outside a transaction, so each such statement cost two round trips to
PostgreSQL. Nothing of ours leaves session state behind (no advisory locks, cursors, LISTEN or
SET: locks are Redis claims or row locks inside transactions), so the reset query is empty.
A connection released inside a transaction is still rolled back by asyncpg itself
(``Connection._reset`` runs before the reset query), so no half-done work leaks to the next user.
"""

from __future__ import annotations

from asyncpg.connection import Connection


class StatelessConnection(Connection):
    """A connection whose release sends nothing unless a transaction is open."""

    def get_reset_query(self) -> str:
        return ""
