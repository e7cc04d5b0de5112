"""The console's Requests panel: the request log's records, kept as values in a ring.

:class:`RequestFeed` is a :class:`~compute_emu.log.LogWatcher`: the request log tells it of
each request (and of what ``main()`` printed) on the thread that logs it; it copies what it
needs into a view (a JSON-ready dict), keeps the last :data:`RING` of them and publishes each
change as a ``request`` event. Held connections are passed on to :class:`~.held.HeldTable`
on the loop. Nothing here waits: a page that cannot keep up is dropped by the hub.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..log import RequestRecord
from .events import EventHub

RING = 200  # requests kept
MAX_OUTPUT = 64 * 1024  # characters of app output kept per request
MAX_PENDING = 400  # requests in flight whose output is being collected


def backend_calls(notes: list[str]) -> list[dict[str, str]]:
    """The log's notes (``send→origin HIT``, ``fanout→self``) as calls: kind, backend, and
    the cache's verdict (HIT, MISS, STALE, PASS) when there is one."""
    calls = []
    for note in notes:
        kind, arrow, rest = note.partition("→")
        if not arrow:
            calls.append({"note": note})
            continue
        backend, _, cache = rest.partition(" ")
        call = {"call": kind, "backend": backend}
        if cache:
            call["cache"] = cache
        calls.append(call)
    return calls


@dataclass
class _Output:
    lines: list[str] = field(default_factory=list)
    partial: str = ""
    size: int = 0
    cut: int = 0  # lines not kept (over MAX_OUTPUT)

    def add(self, text: str, *, continued: bool, partial: bool) -> None:
        start = self.partial if continued else ""
        if partial:
            self.partial = start + text
            return
        self.partial = ""
        line = start + text
        if self.size + len(line) > MAX_OUTPUT:
            self.cut += 1
            return
        self.size += len(line)
        self.lines.append(line)

    def shown(self) -> list[str]:
        extra = [self.partial] if self.partial else []
        more = (
            [f"… {self.cut} more line{'' if self.cut == 1 else 's'} not kept"] if self.cut else []
        )
        return [*self.lines, *extra, *more]


# When perf_counter() was 0, in seconds since the epoch (the record's clock to the wall's)
EPOCH_OFFSET = time.time() - time.perf_counter()


# What the console keeps of a record, copied when the log tells it (a plain tuple: this runs
# for every request): id, method, target, status, started and ended (perf_counter; ended is
# None while it is open), bytes sent and received, messages, notes, error, has an error page.
Values = tuple[
    int, str, str, int | None, float, float | None, int, int | None, Any, tuple[str, ...],
    str | None, bool,
]  # fmt: skip


def copy_record(record: RequestRecord, done: bool, status: int | None = None) -> Values:
    """``record`` now (``done``: it has ended; ``status``: the one it opened with, before the
    record has it)."""
    return (
        record.request_id,
        record.method,
        record.target,
        record.status if status is None else status,
        record.started,
        time.perf_counter() if done else None,
        record.bytes_sent,
        record.bytes_received,
        record.messages,
        tuple(record.notes),
        record.error,
        record.error_page is not None,
    )


def request_view(values: Values, output: _Output | None) -> dict[str, Any]:
    """The JSON view of a request (docs/console.md, "request")."""
    (rid, method, target, status, started, ended, sent, received, messages, notes, error,
     page) = values  # fmt: skip
    done = ended is not None
    return {
        "id": rid,
        "method": method,
        "target": target,
        "status": status,
        "state": "done" if done else "open",
        "started": round((EPOCH_OFFSET + started) * 1000),
        "duration_ms": None if ended is None else round((ended - started) * 1000, 3),
        "bytes_sent": sent if done else None,
        "bytes_received": received,
        "messages": None if messages is None else list(messages),
        "calls": backend_calls(list(notes)),
        "error": error,
        "error_page": page,
        "output": [] if output is None else output.shown(),
    }


class RequestFeed:
    """The ring of recent requests; a :class:`~compute_emu.log.LogWatcher`."""

    def __init__(
        self,
        hub: EventHub,
        held: Callable[[str, tuple[Any, ...]], None] | None = None,
        size: int = RING,
    ) -> None:
        """``held(event, values)``: told on the loop of handoffs, opens and completions."""
        self.hub = hub
        self.size = size
        self._held = held
        self._lock = threading.Lock()
        # id -> [values, output, error page]: lists, for speed (this runs for every request)
        self._ring: OrderedDict[int, list[Any]] = OrderedDict()
        self._pending: OrderedDict[int, _Output] = OrderedDict()
        self._handed: dict[int, str] = {}  # requests handed off, not completed: "fanout→self"

    # -- reading ---------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """Every kept request's view, oldest first."""
        with self._lock:
            return [request_view(kept[0], kept[1]) for kept in self._ring.values()]

    def error_page(self, request_id: int) -> str | None:
        """The error page of a kept request that failed."""
        with self._lock:
            kept = self._ring.get(request_id)
            return None if kept is None else kept[2]

    # -- the log's side (LogWatcher) -----------------------------------------------------------
    def handed_off(self, record: RequestRecord, kind: str, backend: str) -> None:
        self._handed[record.request_id] = f"{kind}→{backend}"
        if self._held is not None:
            values = (record.request_id, record.method, record.target, kind, backend)
            self.hub.on_loop(self._held, "handed_off", (*values, EPOCH_OFFSET + record.started))

    def opened(self, record: RequestRecord, what: str, status: int) -> None:
        self._keep(record, done=False, status=status)
        if self._held is not None:
            self.hub.on_loop(self._held, "opened", (record.request_id, status))

    def completed(self, record: RequestRecord) -> None:
        self._keep(record, done=True)
        if self._held is None:
            return
        if record.request_id in self._handed:
            del self._handed[record.request_id]
            messages = None if record.messages is None else tuple(record.messages)
            values = (record.request_id, record.status, record.bytes_sent, record.bytes_received)
            self.hub.on_loop(self._held, "completed", (*values, messages, record.error))
        if record.grip is not None:
            mode, channels = record.grip
            answer = (record.method, record.target, mode, channels)
            self.hub.on_loop(self._held, "grip", answer)

    def app_output(self, request_id: int, text: str, *, continued: bool, partial: bool) -> None:
        with self._lock:
            kept = self._ring.get(request_id)
            if kept is None:
                output = self._pending.get(request_id)
                if output is None:
                    output = self._pending[request_id] = _Output()
                    while len(self._pending) > MAX_PENDING:
                        self._pending.popitem(last=False)
                output.add(text, continued=continued, partial=partial)
                return
            if kept[1] is None:
                kept[1] = _Output()
            kept[1].add(text, continued=continued, partial=partial)  # after it ended
            view = request_view(kept[0], kept[1]) if self.hub.watched else None
        if view is not None:
            self.hub.publish("request", view)

    # -- keeping ---------------------------------------------------------------------------
    def _keep(self, record: RequestRecord, *, done: bool, status: int | None = None) -> None:
        values = copy_record(record, done, status)
        if not done and not values[9] and record.request_id in self._handed:
            values = (*values[:9], (self._handed[record.request_id],), *values[10:])
        rid = record.request_id
        ring = self._ring
        with self._lock:
            # an open one is replaced; output printed so far comes along (most print nothing)
            kept = ring.pop(rid, None) if record.opened else None
            if kept is not None:
                output = kept[1]
            else:
                output = self._pending.pop(rid, None) if self._pending else None
            ring[rid] = [values, output, record.error_page]
            if len(ring) > self.size:
                ring.popitem(last=False)
            view = request_view(values, output) if self.hub.watched else None
        if view is not None:
            self.hub.publish("request", view)
