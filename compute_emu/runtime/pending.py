"""Backend requests in flight while the app goes on: ``send_async``, ``poll``, ``select``.

Each pending request runs as a task on the loop (in the connection's task group), so several
of them from one ``main()`` really run at the same time. The app's thread only waits when it
asks for a result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from ..sdk._errors import SendError, SendErrorCause
from .send import BackendCall


class PendingCall:
    """One backend request started by ``send_async`` (created and run on the loop):
    ``fetch()`` sends it (through the readthrough cache) and gives its response head."""

    def __init__(self, fetch: Callable[[], Awaitable[BackendCall]], backend: str) -> None:
        self._fetch = fetch
        self.backend = backend
        self.done = anyio.Event()
        self.call: BackendCall | None = None
        self.error: SendError | None = None
        self.scope = anyio.CancelScope()

    async def run(self) -> None:
        """Send the request and keep the outcome (never raises)."""
        with self.scope:
            try:
                self.call = await self._fetch()
            except SendError as exc:
                self.error = exc
        self.done.set()

    def is_done(self) -> bool:
        """True once the response head (or an error) is in; safe from any thread."""
        return self.done.is_set()

    async def result(self) -> BackendCall:
        """Wait for the response head; raises the SendError if it failed."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
        if self.call is None:
            raise SendError(self.backend, SendErrorCause.InternalError, "the request was cancelled")
        return self.call

    async def aclose(self) -> None:
        """Stop it if still running; close its connection if nobody read the body."""
        self.scope.cancel()
        if self.call is not None:
            await self.call.aclose()


async def first_done(calls: list[PendingCall]) -> int:
    """Index of the first of ``calls`` to finish (waits for one)."""
    for index, call in enumerate(calls):
        if call.is_done():
            return index
    winner: list[int] = []
    async with anyio.create_task_group() as tg:

        async def watch(index: int, call: PendingCall) -> None:
            await call.done.wait()
            winner.append(index)
            tg.cancel_scope.cancel()

        for index, call in enumerate(calls):
            tg.start_soon(watch, index, call)
    return winner[0]
