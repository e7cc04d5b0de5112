"""A cached object's body: bytes appended as they arrive, readable while still written."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal


class CacheBodyError(Exception):
    """The object's body was abandoned before it was complete."""


class CachedBody:
    """The bytes of one cached object, appended as they arrive; readers wait for more."""

    def __init__(self, data: bytes | None = None) -> None:
        self.chunks: list[bytes] = [data] if data else []
        self.size = len(data or b"")
        self.state: Literal["writing", "complete", "failed"] = "writing"
        self._changed = asyncio.Event()
        self.on_done: list[Callable[[CachedBody], None]] = []
        if data is not None:
            self.finish()

    @property
    def complete(self) -> bool:
        """True once every byte is in."""
        return self.state == "complete"

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def append(self, chunk: bytes) -> None:
        """Add bytes (ignored once finished or failed)."""
        if chunk and self.state == "writing":
            self.chunks.append(chunk)
            self.size += len(chunk)
            self._wake()

    def finish(self) -> None:
        """All bytes are in."""
        self._end("complete")

    def fail(self) -> None:
        """Abandon the body: readers get :class:`CacheBodyError`, nothing is stored."""
        self._end("failed")

    def _end(self, state: Literal["complete", "failed"]) -> None:
        if self.state != "writing":
            return
        self.state = state
        if state == "failed":
            self.chunks.clear()  # nobody may read it: free the memory now
        self._wake()
        for callback in self.on_done:
            callback(self)
        self.on_done.clear()

    async def chunk(self, index: int) -> bytes:
        """Chunk ``index`` (waits for it); ``b""`` after the last one."""
        while index >= len(self.chunks) and self.state == "writing":
            await self._changed.wait()
        if self.state == "failed":
            raise CacheBodyError("the cached object was abandoned while it was being written")
        return self.chunks[index] if index < len(self.chunks) else b""

    def data(self) -> bytes:
        """The bytes so far."""
        return b"".join(self.chunks)
