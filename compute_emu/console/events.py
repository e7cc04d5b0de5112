"""The console's live events: one bounded queue per open page, never a wait for the sender.

:meth:`EventHub.publish` may be called from any thread (the app's threads print) and returns
at once: each subscriber gets the event appended to its queue, or, if it already holds
:data:`QUEUE_LIMIT` events (a page that stopped reading), it is dropped (its stream ends; the
page's ``EventSource`` reconnects and starts again from a snapshot). Data are values (dicts
and lists built for the event and never changed after), turned into JSON by the reader.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio

from ..aio.loop import Loop

QUEUE_LIMIT = 1000


class Subscriber:
    """One page's stream of ``(event, data)``."""

    def __init__(self) -> None:
        self.queue: deque[tuple[str, Any]] = deque()
        self.dropped = False
        self.ready = anyio.Event()  # replaced by a new one before each wait

    def wake(self) -> None:
        """Wake the reader (on the loop)."""
        self.ready.set()


class EventHub:
    """Fans events out to the subscribed pages (create it on the event loop's thread)."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self.limit = limit
        self._loop = Loop()
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()

    def on_loop(self, func: Callable[..., None], *args: Any) -> None:
        """Run ``func(*args)`` on the loop: now if this is the loop's thread, else soon."""
        self._loop.soon(func, *args)

    @property
    def watched(self) -> bool:
        """Whether any page is subscribed."""
        return bool(self._subscribers)

    def subscribe(self) -> Subscriber:
        """A new subscriber (on the loop)."""
        subscriber = Subscriber()
        with self._lock:
            self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop sending to ``subscriber``."""
        with self._lock:
            self._subscribers.discard(subscriber)

    def publish(self, event: str, data: Any) -> None:
        """Queue ``event`` for every subscriber (any thread; never blocks)."""
        if not self._subscribers:
            return
        woken: list[Subscriber] = []
        with self._lock:
            for subscriber in list(self._subscribers):
                if len(subscriber.queue) >= self.limit:
                    subscriber.dropped = True
                    subscriber.queue.clear()  # nobody will read them
                    self._subscribers.discard(subscriber)
                else:
                    subscriber.queue.append((event, data))
                woken.append(subscriber)
        for subscriber in woken:
            self.on_loop(subscriber.wake)

    async def next_events(self, subscriber: Subscriber) -> list[tuple[str, Any]]:
        """The events queued for ``subscriber`` (waits for one); empty once it was dropped."""
        while True:
            with self._lock:
                if subscriber.dropped:
                    return []
                if subscriber.queue:
                    events = list(subscriber.queue)
                    subscriber.queue.clear()
                    return events
                ready = subscriber.ready = anyio.Event()
            await ready.wait()
