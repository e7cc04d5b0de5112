"""One in-memory cache for a server: readthrough HTTP objects and Core/Simple cache objects.

Bounded by bytes with LRU eviction; a surrogate-key index for purges (hard: removed; soft:
marked stale); obligations for request collapsing (concurrent misses for one key wait for the
one fetch under way), taken and ended by a :class:`Fill`; hit-for-pass records (a key whose
responses are uncacheable, until a time: its lookups skip collapsing). Bodies are
:class:`CachedBody` values that readers can follow while they are still being written.

Threading: every method runs on the server's event loop thread (the network side). The app's
thread reaches the store through the loop (``Calls.call``/``Calls.run``), so there are no
locks here. Time comes from ``clock`` (monotonic seconds) plus :meth:`CacheStore.advance`, so
tests can move TTLs on without sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from .body import CacheBodyError as CacheBodyError
from .body import CachedBody as CachedBody
from .freshness import variant

DEFAULT_CAPACITY = 256 * 1024 * 1024  # bytes (--cache-size)
OBJECT_SHARE = 8  # one object may take at most 1/8 of the cache (32 MiB by default)
ENTRY_OVERHEAD = 256  # bytes counted per object besides its body and headers
PASS_SWEEP = 1024  # hit-for-pass records kept before the expired ones are swept


@dataclass(frozen=True)
class HttpMeta:
    """What a readthrough object keeps besides its body."""

    status: int
    headers: tuple[tuple[str, bytes], ...]


@dataclass(eq=False)
class Entry:
    """One stored object (one variant of a key)."""

    key: bytes
    body: CachedBody
    stored_at: float
    max_age: float  # seconds of freshness from ``stored_at``
    initial_age: float = 0.0
    stale_while_revalidate: float = 0.0
    stale_if_error: float = 0.0
    vary: tuple[str, ...] = ()
    variant: tuple[tuple[str, str], ...] = ()
    surrogate_keys: frozenset[str] = frozenset()
    user_metadata: bytes = b""
    sensitive: bool = False
    meta: HttpMeta | None = None
    revalidatable: bool = False  # has an ETag or Last-Modified: kept stale to be revalidated
    hits: int = 0
    stale_since: float | None = None  # set by a soft purge
    label: str = ""  # what the key stands for (a readthrough object's URL)
    id: int = field(default_factory=itertools.count().__next__)

    @property
    def expires_at(self) -> float:
        """When it stops being fresh (clock time)."""
        fresh_until = self.stored_at + self.max_age
        return fresh_until if self.stale_since is None else min(fresh_until, self.stale_since)

    def age(self, now: float) -> float:
        """Its age in seconds (including the age it had when stored)."""
        return self.initial_age + max(now - self.stored_at, 0.0)

    def is_fresh(self, now: float) -> bool:
        return now < self.expires_at

    def within_swr(self, now: float) -> bool:
        """Stale but still servable while it is revalidated."""
        return now < self.expires_at + self.stale_while_revalidate

    def within_sie(self, now: float) -> bool:
        """Stale but still servable if the backend fails."""
        return now < self.expires_at + self.stale_if_error

    def kept(self, now: float) -> bool:
        """Worth keeping: fresh, still in one of its stale windows, or revalidatable (stale
        objects with a validator stay until evicted, to be refreshed by a 304)."""
        window = max(self.stale_while_revalidate, self.stale_if_error)
        return self.revalidatable or now < self.expires_at + window

    @property
    def size(self) -> int:
        headers = self.meta.headers if self.meta else ()
        return (
            self.body.size
            + sum(len(n) + len(v) for n, v in headers)
            + len(self.key)
            + len(self.user_metadata)
            + ENTRY_OVERHEAD
        )


class Obligation:
    """The one fetch under way for a key; the other lookups of the key wait for it."""

    def __init__(self, owner: object = None) -> None:
        self.done = asyncio.Event()
        self.outcome: Literal["", "stored", "uncacheable", "failed"] = ""
        self.owner = owner  # who fetches (a request's host): it must never wait for itself

    async def wait(self, timeout: float | None = None) -> str | None:
        """The outcome, once the fetch is over; None if that takes over ``timeout`` s."""
        if timeout is None:
            await self.done.wait()
            return self.outcome
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            return None
        return self.outcome


class Fill:
    """The one fetch of a key under way: its obligation is taken when the fill is made, and
    ended exactly once, by the fill.

    ``with store.fill(key, owner) as fill:`` fetches, then ends it with :meth:`stored`,
    :meth:`uncacheable` (or :meth:`pass_for`: uncacheable, and recorded so), or by handing it
    to the body's copy (:meth:`copy_into`: stored when
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
        """The response is not to be stored: end the fetch (waiters look the key up again)."""
        self.store.end(self.key, self.obligation, "uncacheable")

    def pass_for(self, seconds: float) -> None:
        """The response is not to be stored, and the key's lookups go to the backend for
        ``seconds`` (hit-for-pass): record it and end the fetch."""
        self.store.record_pass(self.key, seconds)
        self.uncacheable()

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
        """The next chunk; ``b""`` at the end. Once the copy was abandoned (it outgrew one
        object), the rest of the body is only served: nothing is stored at its end."""
        body = self.entry.body
        if body.state != "writing":
            return
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


class CacheStore:
    """The cache of one server (see the module docstring)."""

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self._clock = clock
        self._offset = 0.0
        self._variants: dict[bytes, list[Entry]] = {}
        self._lru: OrderedDict[int, Entry] = OrderedDict()
        self._by_surrogate: dict[str, set[Entry]] = {}
        self._sizes: dict[int, int] = {}
        self.bytes = 0
        self._obligations: dict[bytes, Obligation] = {}
        self._passes: dict[bytes, float] = {}  # hit-for-pass: key -> until (clock time)
        self.tasks: set[asyncio.Task[Any]] = set()  # background revalidations

    # -- time ----------------------------------------------------------------------------
    def now(self) -> float:
        """The store's clock (seconds)."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock on (tests: expire TTLs without sleeping)."""
        self._offset += seconds

    # -- lookups -------------------------------------------------------------------------
    def lookup(self, key: bytes, request_headers: Iterable[tuple[str, bytes]] = ()) -> Entry | None:
        """The variant of ``key`` that matches the request headers and is still kept (fresh
        or stale within its windows), newest first; None if there is none."""
        entries = self._variants.get(key)
        if not entries:
            return None
        headers = list(request_headers)
        now = self.now()
        for entry in reversed(entries):
            if entry.body.state == "failed" or not entry.kept(now):
                self._remove(entry)
                continue
            if entry.variant == variant(entry.vary, headers):
                self._lru.move_to_end(entry.id)
                return entry
        return None

    def pass_until(self, key: bytes) -> float | None:
        """Until when ``key``'s lookups go straight to the backend (hit-for-pass), if they
        still do."""
        until = self._passes.get(key)
        if until is not None and until <= self.now():
            del self._passes[key]
            return None
        return until

    def record_pass(self, key: bytes, seconds: float) -> None:
        """Record ``key``'s responses uncacheable for ``seconds`` (hit-for-pass)."""
        now = self.now()
        if len(self._passes) >= PASS_SWEEP:
            self._passes = {k: t for k, t in self._passes.items() if t > now}
        if seconds > 0:
            self._passes[key] = now + seconds

    def entries(self) -> list[Entry]:
        """Every stored object (oldest use first)."""
        return list(self._lru.values())

    # -- storing -------------------------------------------------------------------------
    def insert(self, entry: Entry) -> None:
        """Store ``entry``, replacing the same variant of its key; evicts to stay in bounds.
        A body still being written is counted when it completes (and dropped if it fails).
        The newest word on the key, it ends any hit-for-pass record of the key."""
        self._passes.pop(entry.key, None)
        entries = self._variants.setdefault(entry.key, [])
        for old in [e for e in entries if e.variant == entry.variant and e.vary == entry.vary]:
            self._remove(old)
        entries = self._variants.setdefault(entry.key, [])
        entries.append(entry)
        self._lru[entry.id] = entry
        for key in entry.surrogate_keys:
            self._by_surrogate.setdefault(key, set()).add(entry)
        self._account(entry)
        if not entry.body.complete:
            entry.body.on_done.append(lambda body: self._body_done(entry))

    def _body_done(self, entry: Entry) -> None:
        if entry.id not in self._lru:
            return
        if entry.body.state == "failed":
            self._remove(entry)
        else:
            self._account(entry)

    def _account(self, entry: Entry) -> None:
        size = entry.size
        self.bytes += size - self._sizes.get(entry.id, 0)
        self._sizes[entry.id] = size
        if size > self.capacity:
            self._remove(entry)
            return
        while self.bytes > self.capacity and self._lru:
            oldest = next(iter(self._lru.values()))
            self._remove(oldest)

    def _remove(self, entry: Entry) -> None:
        if self._lru.pop(entry.id, None) is None:
            return
        self.bytes -= self._sizes.pop(entry.id, 0)
        entries = self._variants.get(entry.key, [])
        if entry in entries:
            entries.remove(entry)
        if not entries:
            self._variants.pop(entry.key, None)
        for key in entry.surrogate_keys:
            holders = self._by_surrogate.get(key)
            if holders is not None:
                holders.discard(entry)
                if not holders:
                    del self._by_surrogate[key]

    @property
    def max_object(self) -> int:
        """The largest body one object may have (bigger ones are served, not stored)."""
        return self.capacity // OBJECT_SHARE

    def fits(self, size: int) -> bool:
        """Whether an object of ``size`` body bytes may be stored."""
        return size <= self.max_object

    # -- collapsing ----------------------------------------------------------------------
    def obligation(self, key: bytes) -> Obligation | None:
        """The fetch under way for ``key``, if any."""
        return self._obligations.get(key)

    def fill(self, key: bytes, owner: object = None) -> Fill:
        """Take the fetch of ``key`` (there must be none under way); see :class:`Fill`."""
        return Fill(self, key, owner)

    def begin(self, key: bytes, owner: object = None) -> Obligation:
        """Take the obligation to fetch ``key`` (there must be none under way)."""
        assert key not in self._obligations, "a fetch of this key is already under way"
        obligation = self._obligations[key] = Obligation(owner)
        return obligation

    def end(self, key: bytes, obligation: Obligation, outcome: str) -> None:
        """The fetch is over (``stored``, ``uncacheable`` or ``failed``): wake the waiters."""
        if obligation.done.is_set():
            return
        obligation.outcome = outcome  # type: ignore[assignment]
        if self._obligations.get(key) is obligation:
            del self._obligations[key]
        obligation.done.set()

    # -- purging -------------------------------------------------------------------------
    def purge_surrogate_key(self, key: str, *, soft: bool = False) -> int:
        """Remove (``soft``: mark stale) every object tagged ``key``; returns how many."""
        return self._purge(list(self._by_surrogate.get(key, ())), soft)

    def purge_all(self, *, soft: bool = False) -> int:
        """Remove (``soft``: mark stale) everything, hit-for-pass records too; returns how
        many objects."""
        self._passes.clear()
        return self._purge(list(self._lru.values()), soft)

    def _purge(self, entries: list[Entry], soft: bool) -> int:
        now = self.now()
        for entry in entries:
            if soft:
                entry.stale_since = now if entry.stale_since is None else entry.stale_since
            else:
                self._remove(entry)
        return len(entries)

    def remove_key(self, key: bytes) -> int:
        """Remove every variant of ``key`` (and its hit-for-pass record); returns how many."""
        self._passes.pop(key, None)
        entries = list(self._variants.get(key, ()))
        for entry in entries:
            self._remove(entry)
        return len(entries)

    def spawn(self, coro: Any) -> None:
        """Run a background task (a revalidation) on the loop, kept until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
