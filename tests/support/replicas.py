"""``contexor run`` replicas as real processes, for the tests of docs/scaling.md.

``Replica(name, env, args)`` starts ``python -m bot run …`` with exactly the environment given
(the test's settings, never the developer's), reads its log lines as they come (so the pipe never
fills) and lets a test wait for one, send it a signal, or stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

from core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0


def replica_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment of a replica on the test's database, Redis and data directory."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO_ROOT),
        "PTB_TIMEDELTA": "1",
        "DATABASE_URL": settings.database_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SECRET_KEY": settings.signing_key().decode(),
        "DATA_DIR": str(settings.data_dir),
        "SMS_BACKEND": "file",
        "SMS_OUTBOX": str(settings.sms_outbox),
        "LLM_BACKEND": "offline",
        "TIMEZONE": settings.timezone,
        "API_HOST": "127.0.0.1",
        "API_PORT": "0",
        "LOG_LEVEL": "INFO",
        # A replica here is one process: SIGSTOP and kill -9 must reach the bot's own process.
        "API_WORKERS": "1",
    }
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    if settings.telegram_bot_token is not None:
        env["TELEGRAM_BOT_TOKEN"] = settings.telegram_bot_token.get_secret_value()
        env["TELEGRAM_API_BASE_URL"] = settings.telegram_api_base_url
    env.update(overrides)
    return env


class Replica:
    """One ``contexor run`` process; use ``async with``, which kills it if a test fails."""

    def __init__(self, name: str, env: dict[str, str], *args: str, cwd: Path) -> None:
        self.name = name
        self._env = env
        self._args = args or ("--no-scheduler",)
        self._cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> Replica:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            *self._args,
            cwd=self._cwd,
            env=self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait_for("contexor is running", timeout=STARTUP_TIMEOUT)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)
                self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            await self._reader

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def stop(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109 (bounded)
        """SIGTERM and wait for the exit status."""
        self.signal(signal.SIGTERM)
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def kill(self) -> None:
        """``kill -9``."""
        self.signal(signal.SIGKILL)
        assert self.process is not None
        await self.process.wait()

    def is_stopped(self) -> bool:
        """Whether the process is stopped by SIGSTOP (state ``T`` in /proc)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "T"

    def count(self, pattern: str) -> int:
        return sum(1 for line in self.lines if re.search(pattern, line))

    async def wait_for(
        self,
        pattern: str,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (bounded by default: a test cannot hang)
        times: int = 1,
    ) -> str:
        """Wait until ``times`` log lines match ``pattern``; the last of them."""
        try:
            async with asyncio.timeout(timeout):
                while self.count(pattern) < times:
                    if self.process is not None and self.process.returncode is not None:
                        raise AssertionError(f"replica {self.name} exited:\n{self.log}")
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"replica {self.name} never logged {pattern!r} within {timeout}s:\n{self.log}"
            ) from None
        return [line for line in self.lines if re.search(pattern, line)][times - 1]

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self._notify()
        await self.process.wait()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
