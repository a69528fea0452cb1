"""``contexor run`` as a real process for the fault suite, and a REST client for it."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from tests.cli.test_cli import _env

ADMIN_PHONE = "+989121110000"
LISTENING = re.compile(r"API listening on (http://\S+)")
T = TypeVar("T")


async def poll(
    check: Callable[[], Awaitable[T | None]], *, every: float = 0.1, within: float = 120
) -> T:
    """The first answer of ``check`` that is not None; ``TimeoutError`` after ``within`` s.

    The product is another process: there is nothing to await but its answers.
    """
    async with asyncio.timeout(within):
        while (answer := await check()) is None:  # noqa: ASYNC110 (polling another process)
            await asyncio.sleep(every)
    return answer


@dataclass
class Product:
    """One ``contexor run --no-bot`` process; its log (stderr) is collected line by line."""

    cwd: Path
    env: dict[str, str]
    log: list[str] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None

    @classmethod
    def configured(cls, cwd: Path, **env: str) -> Product:
        settings = {
            "AUTO_MIGRATE": "1",
            "SECRET_KEY": "faults-secret-key-long-enough-for-hs256-0123456789",
            "SMS_BACKEND": "file",
            "SMS_OUTBOX": str(cwd / "outbox.jsonl"),
            "API_PORT": "0",
            **env,
        }
        return cls(cwd=cwd, env=_env(**settings))

    async def command(self, *args: str) -> tuple[int, str]:
        """Run another ``contexor`` command to its end: (exit status, stderr)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, cwd=self.cwd, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), timeout=180)
        assert process.returncode is not None
        return process.returncode, err.decode(errors="replace")

    async def start(self, *parts: str) -> None:
        """Start ``contexor run --no-bot`` (plus ``parts``) without waiting for it to serve."""
        self.log.append("---- start\n")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--no-bot", *parts, cwd=self.cwd, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stderr is not None
        self._reader = asyncio.get_running_loop().create_task(self._collect(self.process.stderr))

    async def _collect(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.log.append(line.decode(errors="replace"))

    async def serving(self, within: float = 120) -> str:
        """The API's base URL once this run logged it."""
        start = max(i for i, line in enumerate(self.log) if line == "---- start\n")

        async def listening() -> str | None:
            for line in self.log[start:]:
                if match := LISTENING.search(line):
                    return match.group(1)
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError("contexor exited:\n" + self.text)
            return None

        return await poll(listening, every=0.05, within=within)

    async def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def exited(self, within: float = 120) -> int:
        assert self.process is not None and self._reader is not None
        status = await asyncio.wait_for(self.process.wait(), within)
        await asyncio.wait_for(self._reader, within)
        return status

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await self.exited(within=60)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    @property
    def text(self) -> str:
        return "".join(self.log)


class Client:
    """The admin's REST calls against a running product."""

    def __init__(self, session: aiohttp.ClientSession, base: str, outbox: Path) -> None:
        self.session = session
        self.base = base
        self.outbox = outbox
        self.token: str | None = None

    async def sign_in(self, phone: str = ADMIN_PHONE) -> aiohttp.ClientResponse:
        """Request and verify a code: the first response that failed, else the verification
        (its token kept)."""
        sent = await self.session.post(
            f"{self.base}/api/auth/otp/request", json={"phone_number": phone}
        )
        if sent.status != 200:
            return sent
        lines = (await asyncio.to_thread(self.outbox.read_text)).splitlines()
        code = json.loads(lines[-1])["code"]
        verified = await self.session.post(
            f"{self.base}/api/auth/otp/verify", json={"phone_number": phone, "code": code}
        )
        if verified.status == 200:
            self.token = (await verified.json())["access"]
        return verified

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.session.request(
            method, f"{self.base}{path}", json=body, headers=headers
        ) as response:
            payload = await response.json(content_type=None)
            return response.status, payload

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = await self.call(method, path, body)
        assert status in (200, 201, 202), (status, payload)
        return payload

    async def draft(self) -> int:
        """A new draft in a new workspace and project of the admin's organisation."""
        me = await self.ok("GET", "/api/auth/me")
        organization = me["memberships"][0]["organization"]["id"]
        workspace = await self.ok(
            "POST", "/api/workspaces", {"organization": organization, "name": "Faults"}
        )
        project = await self.ok(
            "POST", "/api/projects", {"workspace": workspace["id"], "name": "P"}
        )
        content = await self.ok(
            "POST", "/api/contents", {"project": project["id"], "title": "A post about coffee"}
        )
        return content["id"]

    async def generate(self, content_id: int) -> int:
        job = await self.ok("POST", f"/api/contents/{content_id}/generate", {"kind": "draft"})
        return job["id"]

    async def job(self, job_id: int) -> dict[str, Any]:
        return await self.ok("GET", f"/api/jobs/{job_id}")

    async def job_in(self, job_id: int, *statuses: str, within: float = 120) -> dict[str, Any]:
        """The job once its status is one of ``statuses``."""

        async def reached() -> dict[str, Any] | None:
            job = await self.job(job_id)
            return job if job["status"] in statuses else None

        return await poll(reached, within=within)

    async def ended(self, job_id: int, within: float = 120) -> dict[str, Any]:
        return await self.job_in(job_id, "succeeded", "failed", within=within)
