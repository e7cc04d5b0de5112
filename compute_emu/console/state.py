"""What the console's HTTP answers read of the console: its state, as a Protocol (so the
answers do not import the :class:`~compute_emu.console.console.Console` that calls them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..runtime.services import Services
    from .events import EventHub
    from .held import HeldTable
    from .requests import RequestFeed


class ConsoleState(Protocol):
    """The server's services, the per-run token, the publish port, and the live tables."""

    services: Services
    token: str
    publish_port: int | None
    hub: EventHub
    held: HeldTable
    feed: RequestFeed
