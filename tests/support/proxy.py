"""A TCP proxy a test can cut and restore: a real network outage of PostgreSQL or Redis."""

from __future__ import annotations

import asyncio
import contextlib


class CuttableProxy:
    """Forwards ``127.0.0.1:<port>`` to ``host:port``; ``cut()`` drops every connection and
    refuses new ones (the dependency is down), ``restore()`` listens again on the same port, and
    ``stall()`` keeps every connection open but forwards nothing more (a network partition:
    the peer never answers and never hangs up)."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.stalled = asyncio.Event()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def restore(self) -> None:
        await self.start()

    def stall(self) -> None:
        self.stalled.set()

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            _pipe(reader, up_writer, self.stalled), _pipe(up_reader, writer, self.stalled)
        )
        self._writers -= {writer, up_writer}


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stalled: asyncio.Event
) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            if stalled.is_set():
                continue  # swallowed: the peer waits for an answer that never comes
            writer.write(data)
            await writer.drain()
    writer.close()
