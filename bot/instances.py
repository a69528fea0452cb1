"""Each running ``contexor run`` writes a heartbeat to Redis, so ``contexor status`` can list them.

One hash holds a field per instance (``host:pid:random``, also the name the bot lease uses) with
its parts, when it started and its last heartbeat. A clean stop marks the entry stopped; an entry
not refreshed for a day is dropped by the next writer, so the hash stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger("contexor")

HEARTBEAT_SECONDS = 5.0
FORGET_AFTER = timedelta(days=1)

# This process's name; pids repeat across hosts and restarts, hence the random part.
THIS_INSTANCE = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


@dataclass(frozen=True)
class InstanceBeat:
    """One instance as its last heartbeat described it."""

    name: str
    parts: tuple[str, ...]
    started_at: datetime
    heartbeat_at: datetime
    stopped: bool


def instances_key(prefix: str) -> str:
    return f"{prefix}instances"


class Heartbeat:
    """Writes this instance's entry every ``HEARTBEAT_SECONDS`` until stopped."""

    def __init__(self, redis: aioredis.Redis, prefix: str, parts: list[str]) -> None:
        self._redis = redis
        self._key = instances_key(prefix)
        self._parts = parts
        self._started = datetime.now(UTC)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._beat(stopped=False)
        self._task = asyncio.create_task(self._run(), name="instance-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._beat(stopped=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self._beat(stopped=False)

    async def _beat(self, *, stopped: bool) -> None:
        now = datetime.now(UTC)
        entry = {
            "parts": self._parts,
            "started_at": self._started.isoformat(timespec="seconds"),
            "heartbeat_at": now.isoformat(timespec="seconds"),
            "stopped": stopped,
        }
        try:
            await self._redis.hset(self._key, THIS_INSTANCE, json.dumps(entry))
            stale = [
                beat.name
                for beat in await _read(self._redis, self._key)
                if now - beat.heartbeat_at > FORGET_AFTER
            ]
            if stale:
                await self._redis.hdel(self._key, *stale)
        except (RedisError, OSError) as exc:  # the next beat tries again
            logger.warning("could not write the instance heartbeat: %s", exc)


async def read_instances(redis: aioredis.Redis, prefix: str) -> list[InstanceBeat]:
    """Every instance's newest heartbeat, most recent first."""
    return await _read(redis, instances_key(prefix))


async def _read(redis: aioredis.Redis, key: str) -> list[InstanceBeat]:
    beats = []
    for name, value in (await redis.hgetall(key)).items():
        data = json.loads(value)
        beats.append(
            InstanceBeat(
                name=name.decode() if isinstance(name, bytes) else name,
                parts=tuple(data.get("parts", ())),
                started_at=datetime.fromisoformat(data["started_at"]),
                heartbeat_at=datetime.fromisoformat(data["heartbeat_at"]),
                stopped=bool(data.get("stopped")),
            )
        )
    return sorted(beats, key=lambda beat: beat.heartbeat_at, reverse=True)


async def start_heartbeat(
    stack: contextlib.AsyncExitStack, redis: aioredis.Redis | None, prefix: str, parts: list[str]
) -> None:
    """Beat until ``stack`` closes (nothing to do without Redis: one process, nothing to list)."""
    if redis is None:
        return
    heartbeat = Heartbeat(redis, prefix, parts)
    await heartbeat.start()
    stack.push_async_callback(heartbeat.stop)
