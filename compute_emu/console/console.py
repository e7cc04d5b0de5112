"""One server's console: its token, its live state, and the task that reads Pushpin's stats.

Built by ``serve.py`` once the server's :class:`~compute_emu.runtime.services.Services`
exist (on the event loop); it watches the request log from then on. :meth:`Console.run` reads
Pushpin's stats socket (when Fanout is on) and drops what Pushpin stopped refreshing, until
cancelled; :meth:`Console.wrap` puts the console's paths in front of a request handler.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from ..aio.loop import Timer, call_later
from .admission import PREFIX
from .events import EventHub
from .held import HeldTable
from .http import answer
from .requests import RequestFeed

if TYPE_CHECKING:
    from ..runtime.services import Services
    from ..server.exchange import Exchange

HELD_DELAY = 0.05  # seconds: changes to the held connections within this go out as one event
EXPIRY_INTERVAL = 5.0  # seconds between checks for subscriptions Pushpin stopped refreshing


class Console:
    """The console of one server (see the module docstring)."""

    def __init__(
        self,
        services: Services,
        *,
        publish_port: int | None = None,
        stats_address: str | None = None,
        token: str | None = None,
    ) -> None:
        """``publish_port``: compute-emu's publish port (None: Fanout is off);
        ``stats_address``: Pushpin's stats socket."""
        self.services = services
        self.publish_port = publish_port
        self.stats_address = stats_address
        self.token = token or secrets.token_urlsafe(24)
        self.hub = EventHub()
        self.held = HeldTable(fanout=publish_port is not None)
        self.feed = RequestFeed(self.hub, self._held_event)
        self._held_push: Timer | None = None
        self.close = services.log.watch(self.feed)

    @staticmethod
    def url(address: tuple[str, int]) -> str:
        """The console's address for a server bound to ``address`` (a loopback name even
        when it listens on all interfaces: the console answers loopback Hosts only)."""
        host, port = address
        if host in ("0.0.0.0", "") or host.startswith("127."):
            host = "127.0.0.1"
        elif ":" in host:
            host = "[::1]"
        return f"http://{host}:{port}{PREFIX}/"

    def wrap(
        self, handler: Callable[[Exchange], Awaitable[None]]
    ) -> Callable[[Exchange], Awaitable[None]]:
        """``handler`` with the console's paths answered here first."""
        from .admission import is_console_path

        async def handle(exchange: Exchange) -> None:
            if is_console_path(exchange.target):
                await answer(self, exchange)
            else:
                await handler(exchange)

        return handle

    # -- held connections ------------------------------------------------------------------
    def _held_event(self, event: str, values: tuple[Any, ...]) -> None:
        if self.held.tell(event, values):
            self._held_changed()

    def _held_changed(self) -> None:
        if self._held_push is None and self.hub.watched:
            self._held_push = call_later(HELD_DELAY, self._push_held)

    def _push_held(self) -> None:
        self._held_push = None
        self.hub.publish("held", self.held.state())

    def _stats(self, message: Any) -> None:
        if self.held.pushpin(message):
            self._held_changed()

    async def run(self) -> None:
        """Read Pushpin's stats and expire what it stopped refreshing, until cancelled."""
        try:
            async with anyio.create_task_group() as tg:
                if self.stats_address is not None:
                    from ..pushpin.stats import read_stats

                    tg.start_soon(read_stats, self.stats_address, self._stats, self._warn)
                while True:
                    await anyio.sleep(EXPIRY_INTERVAL)
                    if self.held.expire():
                        self._held_changed()
        finally:
            if self._held_push is not None:
                self._held_push.cancel()
            self.close()

    def _warn(self, message: str) -> None:
        self.services.log.warning(f"console: {message}")
