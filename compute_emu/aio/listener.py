"""Accepting TCP connections: each arrives as a :class:`~.transport.ProtocolStream` and is
handled by a task of its own."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .transport import ProtocolStream


class Listener:
    """A listening TCP socket whose connections arrive as :class:`ProtocolStream` objects.

    ``handle(stream)`` runs as an asyncio task of its own for each connection; the streams
    come from asyncio's ``create_server``, which accepts in batches without a task or an
    ``accept()`` call per connection. The tasks are plain asyncio tasks, not an anyio task
    group's: a group's task keeps a cancel scope and an event (about 1.5 KiB) for as long as
    the connection lives, which for a held stream is hours, and one connection's failure must
    never cancel the others. When :meth:`serve` ends every connection task is cancelled and
    waited for.
    """

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._handle: Callable[[ProtocolStream], Awaitable[Any]] | None = None
        self._early: list[ProtocolStream] = []  # accepted before serve() began
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, host: str, port: int) -> Listener:
        """Listen on ``host:port`` (port 0: any free one). Raises OSError as bind() does."""
        listener = cls()
        listener._server = await asyncio.get_running_loop().create_server(
            lambda: _Accepted(listener), host, port, reuse_address=True
        )
        return listener

    @classmethod
    async def on_socket(cls, sock: socket.socket) -> Listener:
        """Accept on a socket that is listening already (one a restart handed over)."""
        listener = cls()
        listener._server = await asyncio.get_running_loop().create_server(
            lambda: _Accepted(listener), sock=sock
        )
        return listener

    @property
    def server(self) -> asyncio.Server:
        assert self._server is not None, "Listener.open() and Listener.on_socket() make listeners"
        return self._server

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound."""
        name = self.server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    @property
    def connections(self) -> int:
        """Connections being handled now."""
        return len(self._tasks)

    def _accepted(self, stream: ProtocolStream) -> None:
        if self._handle is None:
            self._early.append(stream)  # served as soon as serve() starts
            return
        self._start(self._handle, stream)

    def _start(
        self, handle: Callable[[ProtocolStream], Awaitable[Any]], stream: ProtocolStream
    ) -> None:
        task = asyncio.get_running_loop().create_task(_run(handle, stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def serve(self, handle: Callable[[ProtocolStream], Awaitable[Any]]) -> None:
        """Accept connections until cancelled; then stop listening and end every connection."""
        self._handle = handle
        early, self._early = self._early, []
        for stream in early:
            self._start(handle, stream)
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await self.aclose()

    async def aclose(self) -> None:
        """Stop listening; connections not yet handed on are closed, running ones cancelled
        (and waited for)."""
        self.server.close()
        self._handle = None
        early, self._early = self._early, []
        for stream in early:
            stream.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def _run(handle: Callable[[ProtocolStream], Awaitable[Any]], stream: ProtocolStream) -> None:
    """One connection's task: what ``handle`` raises is reported, and goes no further; a
    connection whose handler is cancelled (the server stops) is closed."""
    try:
        await handle(stream)
    except Exception as exc:
        stream.abort()
        asyncio.get_running_loop().call_exception_handler(
            {"message": "a connection's handler failed", "exception": exc}
        )
    except BaseException:
        stream.abort()
        raise


class _Accepted(ProtocolStream):
    """A stream accepted by a :class:`Listener`: it is handed on once it is made."""

    def __init__(self, listener: Listener) -> None:
        super().__init__()
        self._listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._listener._accepted(self)
