"""The floor for ``bench/api.py``: the least a Python service can do to serve the content list.

Not the product. A minimal aiohttp + asyncpg handler, in ``--processes`` processes sharing one
port (``SO_REUSEPORT``), that checks an access JWT of the product's kind (PyJWT HS256, the same
claims, issuer and audience; no session lookup) and serves ``GET /api/contents`` page 1 in one
round trip (count and 20 rows, bodies cut to the product's excerpt) with the same JSON as the
product. ``--bare`` serves a 6 KB constant instead: the cost of aiohttp itself.

Run: ``python -m bench.floor --database URL --secret KEY`` (or ``--bare``); it prints
``listening on http://127.0.0.1:PORT`` once every process is ready, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import subprocess
import sys

import asyncpg
import jwt
import orjson
from aiohttp import web

from core.text.excerpt import EXCERPT_FETCH_CHARS, excerpt
from db.pool import StatelessConnection

BARE_BODY = orjson.dumps({"data": "x" * 6_000})
PAGE_SIZE = 20
# An admin's view (every live content of their organisations): the count from the page's own
# scan (a window), and only the excerpt's share of each body (the plan the product uses too).
LIST_SQL = """
WITH page AS (
    SELECT c.id, count(*) OVER () AS total
    FROM contents c
    JOIN organizations o ON o.id = c.organization_id AND o.is_active
    JOIN workspaces w ON w.id = c.workspace_id AND w.is_active
    JOIN projects p ON p.id = c.project_id AND p.is_active
    WHERE c.deleted_at IS NULL
      AND c.organization_id = ANY(ARRAY(SELECT organization_id FROM memberships WHERE user_id = $1))
    ORDER BY c.id DESC
    LIMIT $3
)
SELECT page.total, c.id, c.project_id, c.prompt_id, c.title, left(c.body, $2) AS head,
       c.status, c.variables, c.word_count, c.has_pii, c.pii_findings, c.created_by_id,
       c.decided_by_id, c.decided_at, c.rejection_reason, c.approved_version, c.created_at,
       c.updated_at
FROM page JOIN contents c ON c.id = page.id
ORDER BY c.id DESC
"""


def _row(record: asyncpg.Record) -> dict:
    return {
        "id": record["id"],
        "project": record["project_id"],
        "prompt": record["prompt_id"],
        "title": record["title"],
        "excerpt": excerpt(record["head"]),
        "status": record["status"],
        "variables": orjson.loads(record["variables"]),
        "word_count": record["word_count"],
        "has_pii": record["has_pii"],
        "pii_findings": orjson.loads(record["pii_findings"]),
        "created_by": record["created_by_id"],
        "decided_by": record["decided_by_id"],
        "decided_at": record["decided_at"],
        "rejection_reason": record["rejection_reason"],
        "approved_version": record["approved_version"],
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
    }


def list_app(pool: asyncpg.Pool, secret: bytes) -> web.Application:
    async def contents(request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience="contexor-api",
                issuer="contexor",
                options={"require": ["sub", "exp", "iat", "jti", "type", "fam"]},
            )
        except jwt.InvalidTokenError:
            raise web.HTTPUnauthorized() from None
        if scheme.lower() != "bearer" or claims["type"] != "access":
            raise web.HTTPUnauthorized()
        records = await pool.fetch(LIST_SQL, int(claims["sub"]), EXCERPT_FETCH_CHARS, PAGE_SIZE)
        count = records[0]["total"] if records else 0
        page = {
            "count": count,
            "next": f"/api/contents?page=2&page_size={PAGE_SIZE}" if count > PAGE_SIZE else None,
            "previous": None,
            "results": [_row(r) for r in records],
        }
        body = orjson.dumps(page, option=orjson.OPT_UTC_Z)
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    app = web.Application()
    app.router.add_get("/api/contents", contents)
    return app


def bare_app() -> web.Application:
    async def constant(request: web.Request) -> web.Response:
        return web.Response(body=BARE_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/bare", constant)
    return app


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    pool = None
    if args.bare:
        app = bare_app()
    else:
        # Released without asyncpg's reset query, as the product's pool (db/pool.py).
        pool = await asyncpg.create_pool(
            args.database, min_size=4, max_size=4, connection_class=StatelessConnection
        )
        app = list_app(pool, args.secret.encode())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, reuse_port=True).start()
    print("ready", flush=True)
    await stop.wait()
    await runner.cleanup()
    if pool is not None:
        await pool.close()


def supervise(args: argparse.Namespace) -> int:
    """Start ``--processes`` servers on one port; stop them all on SIGTERM."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    argv = [sys.executable, "-m", "bench.floor", "--serve", "--port", str(port)]
    argv += ["--bare"] if args.bare else ["--database", args.database, "--secret", args.secret]
    children = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)  # noqa: S603 (our own argv)
        for _ in range(args.processes)
    ]
    # Blocked only here, after the children started (they inherit the mask): sigwait below.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise SystemExit("a floor process failed to start")
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    for child in children:
        child.terminate()
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=10)
    holder.close()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--database")
    parser.add_argument("--secret")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.bare and not (args.database and args.secret):
        parser.error("--database and --secret are needed unless --bare")
    if args.serve:
        asyncio.run(serve(args))
        return 0
    return supervise(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
