"""The readthrough cache's decisions: pure functions of facts, no store, no clock, no I/O.

One ``send()`` through the cache asks, in order:

1. :func:`route`: is the request looked up at all? A method other than GET or HEAD goes to
   the backend untagged; a request with ``set_pass`` goes there tagged PASS.
2. :func:`on_lookup`, with what the lookup found (:func:`found_state`) and whether a fetch of
   the key is under way: a fresh object is a HIT; a stale one within stale-while-revalidate is
   served STALE, and refreshed in the background unless a fetch is already under way; another
   request's fetch is waited for (collapsing); the request's own fetch is never waited for (it
   goes to the backend on its own, MISS); else it is a MISS that fetches for the cache.
3. :func:`after_wait`, when it waited: the key is looked up again after a fetch that stored
   or failed; after one that was not stored it goes to the backend (PASS), and after a wait
   that timed out too (MISS).
4. :func:`serve_stale_on_error`, for a MISS: a failed send, or a 5xx, with a stale object still
   within stale-if-error serves that object (STALE).
5. :func:`keep`/:func:`keep_refreshed`: whether what came back is stored.
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
    FRESH = "fresh"
    STALE_WHILE_REVALIDATE = "stale, within stale-while-revalidate"
    STALE = "stale (kept for stale-if-error)"


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


def found_state(entry: Entry | None, now: float) -> Found:
    """What a lookup that returned ``entry`` found at ``now`` (store clock)."""
    if entry is None or entry.meta is None:  # nothing, or not a readthrough object
        return Found.NOTHING
    if entry.is_fresh(now):
        return Found.FRESH
    if entry.within_swr(now):
        return Found.STALE_WHILE_REVALIDATE
    return Found.STALE


def on_lookup(found: Found, under_way: UnderWay) -> Step:
    """The step after a lookup (see the module docstring)."""
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
    the wait timed out): go to the backend (a :class:`Forward`), or ``None``: look up again."""
    if outcome is None:
        return Forward("MISS")
    if outcome == "uncacheable":
        return Forward("PASS")
    return None


def serve_stale_on_error(send_failed: bool, status: int | None, stale_usable: bool) -> bool:
    """Whether a MISS serves its stale object instead: the send failed, or answered 5xx, and
    a stale object is still within stale-if-error."""
    return stale_usable and (send_failed or (status is not None and status >= 500))


def keep(cacheable: bool, length: int | None, max_object: int) -> bool:
    """Whether a MISS's response is stored: cacheable, and not declared bigger than one
    object may be (a body that grows past it while copied is dropped then)."""
    return cacheable and (length is None or length <= max_object)


def keep_refreshed(cacheable: bool, status: int) -> bool:
    """Whether a background refresh's response replaces the stale object: cacheable, and not
    an error (the stale object stays for stale-if-error)."""
    return cacheable and status < 500
