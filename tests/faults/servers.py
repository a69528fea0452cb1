"""A private PostgreSQL cluster and a private Redis, started by the fault suite itself.

Each lives in a temporary directory on a spare port, so stopping it (the point of the suite)
disturbs no other server on the machine. PostgreSQL's ``initdb`` refuses to run as root; when
the suite runs as root the cluster is created and run as the ``postgres`` system user
(``runuser -u postgres``), its directory handed to that user first.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from tests.faults.product import poll


def spare_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_bin(name: str) -> str:
    """``name`` from the newest /usr/lib/postgresql/*/bin, else from PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return on_path


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parents[1].name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


class PrivatePostgres:
    """``initdb`` once, then ``start``/``stop`` at will; trust authentication on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = spare_port()
        self._root = Path(tempfile.mkdtemp(prefix="contexor-faults-pg-"))
        self._data = self._root / "data"
        self._log = self._root / "postgres.log"
        self._as_root = os.geteuid() == 0

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_root else []
        # Our own fixed commands and temporary paths: no untrusted input.
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)  # noqa: S603

    def init(self) -> None:
        if self._as_root:
            account = pwd.getpwnam("postgres")
            os.chown(self._root, account.pw_uid, account.pw_gid)
        self._run(
            _postgres_bin("initdb"), "-D", str(self._data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    async def start(self) -> None:
        options = (
            f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        await asyncio.to_thread(
            self._run, _postgres_bin("pg_ctl"), "-D", str(self._data), "-l", str(self._log),
            "-o", options, "-w", "start",
        )  # fmt: skip

    async def stop(self) -> None:
        """A fast shutdown: every session is ended, as when the server is restarted."""
        await asyncio.to_thread(
            self._run, _postgres_bin("pg_ctl"), "-D", str(self._data), "-m", "fast", "-w", "stop"
        )

    async def create_database(self, name: str) -> str:
        connection = await asyncpg.connect(self.url("postgres"))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url(name)

    async def fetch(self, database: str, query: str, *args: object) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.url(database))
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()

    async def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            await self.stop()
        shutil.rmtree(self._root, ignore_errors=True)


class PrivateRedis:
    """A ``redis-server`` without persistence on a spare port; ``stop``/``start`` at will."""

    def __init__(self) -> None:
        self.port = spare_port()
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await poll(lambda: self._answers(), every=0.05, within=30)

    async def _answers(self) -> bool | None:
        """True once it answers PING, else None."""
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return None
        writer.write(b"PING\r\n")
        answer = await reader.readline()
        writer.close()
        return True if answer.startswith(b"+PONG") else None

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        self._process = None
