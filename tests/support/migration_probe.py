"""Run as ``python -m tests.support.migration_probe URL`` on an empty scratch database.

Migrates it to 0008, writes usage rows the way the schema before 0009 held them (a user counter
shared by the person's organisations), migrates to the end and prints the rows as JSON. A
separate process: the migration API initialises Tortoise globally, which the test session's
own database must not see.
"""

from __future__ import annotations

import asyncio
import json
import sys

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate

from db.config import tortoise_config

BEFORE = "models.0008_otp_code_requester"
AT = "'2026-11-30 10:00:00+00:00'"  # replaces @AT in the statements below
ROWS = [
    "INSERT INTO organizations (name, slug, language, is_active, created_at, updated_at) "
    "VALUES ('A', 'a', 'fa', TRUE, @AT, @AT), ('B', 'b', 'fa', TRUE, @AT, @AT)",
    "INSERT INTO users (phone_number, language, is_active, created_at, updated_at) "
    "VALUES ('+989120000001', 'fa', TRUE, @AT, @AT)",
    "INSERT INTO memberships (role, created_at, updated_at, organization_id, user_id) "
    "SELECT 'writer', @AT, @AT, o.id, u.id FROM organizations o, users u",
    "INSERT INTO workspaces (name, slug, description, is_active, created_at, updated_at, "
    "organization_id) SELECT 'W', 'w', '', TRUE, @AT, @AT, id FROM organizations "
    "WHERE slug = 'b'",
    "INSERT INTO usage_counters (scope, scope_id, period, period_key, requests, tokens, "
    "cost_usd, reserved_requests, reserved_tokens, reserved_cost_usd, updated_at) "
    "SELECT 'organization', id, 'monthly', '2026-11', 3, 30, 0.5, 0, 0, 0, @AT "
    "FROM organizations WHERE slug = 'a'",
    "INSERT INTO usage_counters (scope, scope_id, period, period_key, requests, tokens, "
    "cost_usd, reserved_requests, reserved_tokens, reserved_cost_usd, updated_at) "
    "SELECT 'workspace', id, 'monthly', '2026-11', 2, 20, 0.25, 0, 0, 0, @AT FROM workspaces",
    "INSERT INTO usage_counters (scope, scope_id, period, period_key, requests, tokens, "
    "cost_usd, reserved_requests, reserved_tokens, reserved_cost_usd, updated_at) "
    "SELECT 'user', id, 'monthly', '2026-11', 5, 50, 0.75, 1, 10, 0.01, @AT FROM users",
    "INSERT INTO usage_limits (organization_id, scope, scope_id, period, requests_limit, "
    "created_at, updated_at) SELECT o.id, 'user', u.id, 'daily', 0, @AT, @AT "
    "FROM organizations o, users u WHERE o.slug = 'b'",
]
COUNTERS = (
    "SELECT o.slug AS org, c.scope, c.requests, c.reserved_requests FROM usage_counters c "
    "LEFT JOIN organizations o ON o.id = c.organization_id ORDER BY c.scope, o.slug"
)
LIMITS = (
    "SELECT o.slug AS org, l.scope, l.requests_limit FROM usage_limits l "
    "JOIN organizations o ON o.id = l.organization_id"
)


async def main(url: str) -> None:
    config = tortoise_config(url)
    await migrate(config=config, target=BEFORE)
    conn = connections.get("default")
    for statement in ROWS:
        await conn.execute_script(statement.replace("@AT", AT))
    await migrate(config=config)
    conn = connections.get("default")
    counters = await conn.execute_query_dict(COUNTERS)
    limits = await conn.execute_query_dict(LIMITS)
    print(json.dumps({"counters": counters, "limits": limits}))
    await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
