"""The readthrough cache's decisions: pure functions of facts, no store, no clock, no I/O.

One ``send()`` through the cache asks, in order:

1. :func:`route`: is the request looked up at all? A method other than GET or HEAD goes to
   the backend untagged; a request with ``set_pass`` goes there tagged PASS.
2. :func:`on_lookup`, with what the lookup found (:func:`found_state`) and whether a fetch of
   the key is under way: a hit-for-pass record sends it to the backend at once (PASS, no
   collapsing); a fresh object is a HIT; a stale one within stale-while-revalidate is
   served STALE, and refreshed in the background unless a fetch is already under way; another
   request's fetch is waited for (collapsing); the request's own fetch is never waited for (it
   goes to the backend on its own, MISS); else it is a MISS that fetches for the cache.
3. :func:`after_wait`, when it waited: the key is looked up again after the fetch, whatever
   became of it (a HIT if stored; a PASS if recorded uncacheable; else the next waiter
   fetches and the others queue behind it, as Fastly's request collapsing does); after a
   wait that timed out it goes to the backend itself (MISS).
4. :func:`conditional`, for a MISS with a stale object: it asks the backend conditionally
   when the object has an ``ETag`` or ``Last-Modified``, and :func:`not_modified` says whether
   the answer (a 304) refreshes the stored object instead of replacing it.
5. :func:`serve_stale_on_error`, for a MISS: a failed send, or a 5xx, with a stale object still
   within stale-if-error serves that object (STALE).
6. :func:`storage`/:func:`storage_refreshed`: whether what came back is stored, or recorded
   uncacheable (hit-for-pass) for its TTL.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .freshness import LOOKUP_METHODS

if TYPE_CHECKING:
    from .store import Entry


class Found(enum.Enum):
    """What a lookup found, at the time of the lookup."""

    NOTHING = "nothing"
    HIT_FOR_PASS = "a record that the key's responses are uncacheable (hit-for-pass)"
    FRESH = "fresh"
    STALE_WHILE_REVALIDATE = "stale, within stale-while-revalidate"
    STALE = "stale (kept for stale-if-error or to be revalidated)"


class UnderWay(enum.Enum):
    """Whether a fetch of the key is under way, and whose."""

    NONE = "none"
    OURS = "this request's"
    OTHERS = "another request's"


@dataclass(frozen=True, slots=True)
class Forward:
    """Go to the backend; store nothing. ``tag`` names it in the log (``None``: no tag)."""

    tag: str | None


@dataclass(frozen=True, slots=True)
class Hit:
    """Serve the fresh object."""

    tag: str = "HIT"


@dataclass(frozen=True, slots=True)
class ServeStale:
    """Serve the stale object; ``revalidate``: start the one background refresh of it."""

    revalidate: bool
    tag: str = "STALE"


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait for the fetch under way (another request's), then :func:`after_wait`."""


@dataclass(frozen=True, slots=True)
class Miss:
    """Own the key's fetch: go to the backend and store what may be stored."""

    tag: str = "MISS"


Step = Forward | Hit | ServeStale | Wait | Miss


def route(method: str, pass_: bool) -> Forward | None:
    """Whether the request skips the cache (a :class:`Forward`), or ``None``: look it up."""
    if method not in LOOKUP_METHODS:
        return Forward(None)
    if pass_:
        return Forward("PASS")
    return None


def found_state(entry: Entry | None, now: float, pass_until: float | None = None) -> Found:
    """What a lookup that returned ``entry`` (and the key's hit-for-pass record, live until
    ``pass_until``) found at ``now`` (store clock). The record is the newest word on the key."""
    if pass_until is not None and now < pass_until:
        return Found.HIT_FOR_PASS
    if entry is None or entry.meta is None:  # nothing, or not a readthrough object
        return Found.NOTHING
    if entry.is_fresh(now):
        return Found.FRESH
    if entry.within_swr(now):
        return Found.STALE_WHILE_REVALIDATE
    return Found.STALE


def on_lookup(found: Found, under_way: UnderWay) -> Step:
    """The step after a lookup (see the module docstring)."""
    if found is Found.HIT_FOR_PASS:
        return Forward("PASS")
    if found is Found.FRESH:
        return Hit()
    if found is Found.STALE_WHILE_REVALIDATE:
        return ServeStale(revalidate=under_way is UnderWay.NONE)
    if under_way is UnderWay.OTHERS:
        return Wait()
    if under_way is UnderWay.OURS:
        return Forward("MISS")
    return Miss()


def after_wait(outcome: str | None) -> Forward | None:
    """After waiting for another's fetch (``outcome``: stored, failed, uncacheable; ``None``:
    the wait timed out): go to the backend (a :class:`Forward`), or ``None``: look up again.
    An uncacheable response serves only the request that fetched it: the waiters look again,
    and go to the backend at once only if it was recorded uncacheable (hit-for-pass)."""
    if outcome is None:
        return Forward("MISS")
    return None


def conditional(stale: bool, has_validators: bool) -> bool:
    """Whether a MISS asks the backend with ``If-None-Match``/``If-Modified-Since``: it has a
    stale object, and the object has an ``ETag`` or ``Last-Modified`` (Fastly revalidates
    those rather than fetch them whole)."""
    return stale and has_validators


def not_modified(conditional: bool, status: int) -> bool:
    """Whether the answer revalidates the stale object (its TTL refreshed, its body kept): a
    304 to a conditional request. A 304 the cache did not ask for is the app's answer."""
    return conditional and status == 304


def serve_stale_on_error(send_failed: bool, status: int | None, stale_usable: bool) -> bool:
    """Whether a MISS serves its stale object instead: the send failed, or answered 5xx, and
    a stale object is still within stale-if-error."""
    return stale_usable and (send_failed or (status is not None and status >= 500))


class Storage(enum.Enum):
    """What becomes of a MISS's response (the host's storage actions)."""

    INSERT = "stored"
    DO_NOT_STORE = "not stored"
    RECORD_UNCACHEABLE = "not stored, recorded uncacheable (hit-for-pass)"


def storage(
    cacheable: bool, record_uncacheable: bool, length: int | None, max_object: int
) -> Storage:
    """What becomes of a MISS's response: stored if cacheable and not declared bigger than
    one object may be (a body that grows past it while copied is dropped then); else
    recorded uncacheable if the rules or ``set_uncacheable(True)`` say so; else nothing."""
    if cacheable:
        too_big = length is not None and length > max_object
        return Storage.DO_NOT_STORE if too_big else Storage.INSERT
    return Storage.RECORD_UNCACHEABLE if record_uncacheable else Storage.DO_NOT_STORE


def storage_refreshed(cacheable: bool, record_uncacheable: bool, status: int) -> Storage:
    """What becomes of a background refresh's response: as :func:`storage`, except that an
    error never replaces the stale object (it stays for stale-if-error)."""
    if status >= 500:
        return Storage.DO_NOT_STORE
    return storage(cacheable, record_uncacheable, None, 0)
