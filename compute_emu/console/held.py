"""The console's Held connections panel: compute-emu's handoffs and Pushpin's channels.

Two sources, each exact about what it knows:

- compute-emu relays every handed-off connection, so it knows each one: request, backend, when
  it opened, its kind (a stream once Pushpin's answer started, a WebSocket after a ``101``, a
  long-poll while Pushpin holds the answer) and, when it closes, bytes and messages each way
  (the relay's counts, as in the ``closed`` log line);
- Pushpin's stats socket knows each channel's subscribers per mode, and each message published.

Pushpin does not say which connection is subscribed to which channel. When the app itself is
the GRIP origin (a backend pointing back at compute-emu), its answer to Pushpin names the
channels (``Grip-Hold``, ``Grip-Channel``); that answer is matched to the oldest handoff still
waiting for Pushpin with the same method and target, and the connection is listed under those
channels. Otherwise (another origin, WebSocket-over-HTTP subscriptions made in the body) it is
listed under no channel, with Pushpin's counts next to it.

Everything here runs on the event loop; :meth:`HeldTable.state` is the JSON view.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..pushpin.stats import Delivery, HeldConnection, StatsMessage, Subscription

CLOSED_KEPT = 20  # closed connections still shown
MATCH_WINDOW = 30.0  # seconds a GRIP answer may come after its handoff started
TTL_MARGIN = 10.0  # seconds past Pushpin's ttl before a subscription not refreshed is dropped


@dataclass
class Connection:
    """One handed-off connection."""

    id: int
    method: str
    target: str
    handoff: str  # fanout, websocket
    backend: str
    started: float  # seconds since the epoch
    state: str = "waiting"  # waiting, long-poll, stream, websocket, closed
    status: int | None = None
    channels: tuple[str, ...] = ()
    ended: float | None = None
    bytes_to_client: int | None = None
    bytes_from_client: int | None = None
    messages: tuple[int, int] | None = None  # (from the client, to the client)
    error: str | None = None

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "target": self.target,
            "handoff": self.handoff,
            "backend": self.backend,
            "state": self.state,
            "status": self.status,
            "channels": list(self.channels),
            "started": round(self.started * 1000),
            "ended": None if self.ended is None else round(self.ended * 1000),
            "bytes_to_client": self.bytes_to_client,
            "bytes_from_client": self.bytes_from_client,
            "messages": None if self.messages is None else list(self.messages),
            "error": self.error,
        }


@dataclass
class Channel:
    """What Pushpin reported of one channel."""

    subscribers: dict[str, int] = field(default_factory=dict)  # mode -> count
    expires: dict[str, float] = field(default_factory=dict)  # mode -> when, unless refreshed
    messages: int = 0  # published messages seen
    deliveries: int = 0  # receivers they went to


class HeldTable:
    """Held connections and channels (see the module docstring)."""

    def __init__(self, fanout: bool, clock: Callable[[], float] = time.time) -> None:
        self.fanout = fanout
        self.clock = clock
        self.stats_connected = False  # a stats message has come
        self.connections: dict[int, Connection] = {}
        self.closed: deque[Connection] = deque(maxlen=CLOSED_KEPT)
        self.channels: dict[str, Channel] = {}
        self.pushpin_connections: dict[str, tuple[str, float]] = {}  # id -> (route, expires)

    # -- what the request log says (RequestFeed passes it on) ------------------------------
    def tell(self, event: str, values: tuple[Any, ...]) -> bool:
        """Apply one event of the request log; whether the state changed."""
        if event == "handed_off":
            request_id, method, target, kind, backend, started = values
            self.connections[request_id] = Connection(
                request_id, method, target, kind, backend, started
            )
            return True
        if event == "opened":
            request_id, status = values
            conn = self.connections.get(request_id)
            if conn is None:
                return False
            conn.status = status
            conn.state = "websocket" if status == 101 else "stream"
            return True
        if event == "completed":
            return self._completed(*values)
        if event == "grip":
            return self._grip(*values)
        raise ValueError(f"unknown event {event!r}")

    def _completed(
        self,
        request_id: int,
        status: int | None,
        bytes_sent: int,
        bytes_received: int | None,
        messages: tuple[int, int] | None,
        error: str | None,
    ) -> bool:
        conn = self.connections.pop(request_id, None)
        if conn is None:
            return False
        if conn.state != "waiting" or conn.channels:  # it was held, not answered at once
            conn.status = status if conn.status is None else conn.status
            conn.ended = self.clock()
            conn.state = "closed"
            conn.bytes_to_client = bytes_sent
            conn.bytes_from_client = bytes_received
            conn.messages = messages
            conn.error = error
            self.closed.append(conn)
        return True

    def _grip(self, method: str, target: str, mode: str, channels: tuple[str, ...]) -> bool:
        """The app answered Pushpin with a hold on ``channels``: the handoff it belongs to."""
        oldest = self.clock() - MATCH_WINDOW
        for conn in self.connections.values():  # in the order they started
            if (
                conn.handoff == "fanout"
                and conn.state == "waiting"
                and not conn.channels
                and conn.method == method
                and conn.target == target
                and conn.started >= oldest
            ):
                conn.channels = channels
                if mode == "response":
                    conn.state = "long-poll"
                return True
        return False

    # -- what Pushpin says -------------------------------------------------------------------
    def pushpin(self, message: StatsMessage) -> bool:
        """Apply one stats message; whether the state changed."""
        now = self.clock()
        first = not self.stats_connected
        self.stats_connected = True
        return self._pushpin(message, now) or first

    def _pushpin(self, message: StatsMessage, now: float) -> bool:
        if isinstance(message, Subscription):
            channel = self.channels.setdefault(message.channel, Channel())
            if message.gone:
                channel.subscribers.pop(message.mode, None)
                channel.expires.pop(message.mode, None)
                if not channel.subscribers:
                    del self.channels[message.channel]
                return True
            before = channel.subscribers.get(message.mode)
            channel.subscribers[message.mode] = message.subscribers
            channel.expires[message.mode] = now + (message.ttl or 60.0) + TTL_MARGIN
            return before != message.subscribers
        if isinstance(message, HeldConnection):
            if message.gone:
                return self.pushpin_connections.pop(message.id, None) is not None
            known = message.id in self.pushpin_connections
            expires = now + (message.ttl or 120.0) + TTL_MARGIN
            self.pushpin_connections[message.id] = (message.route, expires)
            return not known
        if isinstance(message, Delivery):
            delivered = self.channels.get(message.channel)
            if delivered is None:
                return False
            delivered.messages += 1
            delivered.deliveries += message.count
            return True
        return False

    def expire(self) -> bool:
        """Drop what Pushpin stopped refreshing; whether anything went."""
        now = self.clock()
        changed = False
        for name in list(self.channels):
            channel = self.channels[name]
            for mode in [m for m, when in channel.expires.items() if when <= now]:
                channel.subscribers.pop(mode, None)
                channel.expires.pop(mode, None)
                changed = True
            if not channel.subscribers:
                del self.channels[name]
                changed = True
        for conn_id in [i for i, (_, when) in self.pushpin_connections.items() if when <= now]:
            del self.pushpin_connections[conn_id]
            changed = True
        return changed

    # -- the view ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The JSON view (docs/console.md, "held")."""
        names = dict.fromkeys(self.channels)
        for conn in self.connections.values():
            names.update(dict.fromkeys(conn.channels))
        channels = []
        for name in names:
            channel = self.channels.get(name, Channel())
            channels.append(
                {
                    "name": name,
                    "subscribers": dict(channel.subscribers),
                    "messages": channel.messages,
                    "deliveries": channel.deliveries,
                    "connections": [c.id for c in self.connections.values() if name in c.channels],
                }
            )
        routes: dict[str, int] = {}
        for route, _ in self.pushpin_connections.values():
            routes[route] = routes.get(route, 0) + 1
        return {
            "fanout": self.fanout,
            "stats": self.stats_connected,
            "channels": channels,
            "connections": [c.view() for c in self.connections.values()],
            "closed": [c.view() for c in reversed(self.closed)],
            "pushpin": {"connections": len(self.pushpin_connections), "routes": routes},
        }
