"""Filling the cache with one fetch: the obligation a fetch of a key takes, ended once.

Concurrent misses for one key collapse onto one fetch (see ``store.Obligation``). Whoever
fetches takes the key's obligation with ``store.fill(key, owner)`` and, whatever happens, ends
it once, so those waiting for it wake: stored, not storable, or failed.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import CacheStore, Entry


class Fill:
    """The one fetch of a key under way: its obligation is taken when the fill is made, and
    ended exactly once, by the fill.

    ``with store.fill(key, owner) as fill:`` fetches, then ends it with :meth:`stored`,
    :meth:`uncacheable`, or by handing it to the body's copy (:meth:`copy_into`: stored when
    the body is complete, failed if it is not). A block that leaves without saying (an
    exception, a stale object served instead) ends it failed. Those waiting for the key wake
    at the end.
    """

    def __init__(self, store: CacheStore, key: bytes, owner: object = None) -> None:
        self.store = store
        self.key = key
        self.obligation = store.begin(key, owner)
        self._handed_over = False

    def __enter__(self) -> Fill:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._handed_over:
            self.failed()

    def stored(self, entry: Entry) -> None:
        """Store ``entry`` (its body complete) and end the fetch."""
        entry.stored_at = self.store.now()
        self.store.insert(entry)
        self.store.end(self.key, self.obligation, "stored")

    def uncacheable(self) -> None:
        """The response is not to be stored: end the fetch (waiters go to the backend)."""
        self.store.end(self.key, self.obligation, "uncacheable")

    def failed(self) -> None:
        """Nothing came of the fetch: end it (waiters look the key up again)."""
        self.store.end(self.key, self.obligation, "failed")

    def copy_into(self, entry: Entry) -> FillingBody:
        """Hand the end of the fetch to the copy of the body into ``entry``."""
        self._handed_over = True
        return FillingBody(self, entry)


class FillingBody:
    """Copies a body into a new object as it is read (a backend call's sink); stores the
    object when the body is complete, and drops it if it fails or outgrows one object."""

    def __init__(self, fill: Fill, entry: Entry) -> None:
        self.fill = fill
        self.entry = entry

    def feed(self, chunk: bytes) -> None:
        """The next chunk; ``b""`` at the end."""
        body = self.entry.body
        if chunk:
            body.append(chunk)
            if not self.fill.store.fits(body.size):
                self.abort()
            return
        body.finish()
        self.fill.stored(self.entry)

    def abort(self) -> None:
        """The body will not be complete: nothing is stored."""
        self.entry.body.fail()
        self.fill.failed()
