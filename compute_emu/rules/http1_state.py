"""What both HTTP/1.1 codecs hand their caller besides heads and body bytes (h11's names).

``next_event()`` of :class:`~compute_emu.rules.http1_server.ServerProtocol` and
:class:`~compute_emu.rules.http1_client.ClientProtocol` returns a head, body bytes, or one of
these sentinels.
"""

from __future__ import annotations

from typing import Final


class Sentinel:
    """A named event with no data (compared with ``is``)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA: Final = Sentinel("NEED_DATA")  # feed more bytes
PAUSED: Final = Sentinel("PAUSED")  # a message is complete: nothing more until the next cycle
END_OF_MESSAGE: Final = Sentinel("END_OF_MESSAGE")  # the body is complete
CONNECTION_CLOSED: Final = Sentinel("CONNECTION_CLOSED")  # the peer closed between messages
