"""``--inspect-ws``: the WebSocket messages a handoff relays, decoded on the side.

The relay writes each read to the other socket first and hands the inspector the same bytes
object (no copy); wsproto's frame parser decodes it, one log line per message: direction, type,
size, first bytes. A decoding problem (an extension wsproto cannot undo, a broken frame) stops
the inspection of that direction with one note; the relay itself is never affected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol, Opcode, ParseFailed

if TYPE_CHECKING:
    from .log import RequestLog

HEAD = 60  # bytes of a message shown
UP, DOWN = 0, 1  # client -> origin, origin -> client
_ARROWS = ("↑", "↓")
_CONTROL = frozenset({Opcode.PING, Opcode.PONG, Opcode.CLOSE})
_KINDS = {
    Opcode.TEXT: "text",
    Opcode.BINARY: "binary",
    Opcode.PING: "ping",
    Opcode.PONG: "pong",
    Opcode.CLOSE: "close",
}


def _extensions(response_extensions: str | None) -> list[Extension]:
    if not response_extensions or "permessage-deflate" not in response_extensions:
        return []
    deflate = PerMessageDeflate()
    deflate.finalize(response_extensions)  # the parameters the server agreed to
    return [deflate]


class _Message:
    """The message being received: its type, size so far and first bytes."""

    def __init__(self) -> None:
        self.kind = ""
        self.size = 0
        self.head = b""
        self.open = False  # between its first piece and its end


class _Direction:
    def __init__(self, client_side: bool, extensions: list[Extension]) -> None:
        # frames from the client are masked: parse them as the server does, and vice versa
        self.parser: FrameProtocol | None = FrameProtocol(client_side, extensions)
        self.data = _Message()
        self.control = _Message()  # a ping/pong/close may come between a message's fragments
        self.messages = 0


class WsInspector:
    """Feed it what the relay sent each way (``UP``/``DOWN``); it logs each message."""

    def __init__(
        self, log: RequestLog, request_id: int, response_extensions: str | None = None
    ) -> None:
        self.log = log
        self.request_id = request_id
        self.sides = (
            _Direction(False, _extensions(response_extensions)),
            _Direction(True, _extensions(response_extensions)),
        )

    @property
    def messages(self) -> tuple[int, int]:
        """Messages seen so far: (client to origin, origin to client)."""
        return self.sides[UP].messages, self.sides[DOWN].messages

    def __call__(self, direction: int, data: bytes) -> None:
        side = self.sides[direction]
        parser = side.parser
        if parser is None:
            return
        try:
            parser.receive_bytes(data)
            for frame in parser.received_frames():
                self._frame(direction, side, frame.opcode, frame.payload, frame.message_finished)
        except (ParseFailed, ValueError, TypeError) as exc:  # not decodable: stop looking
            side.parser = None
            self.log.info(
                f"#{self.request_id} ws {_ARROWS[direction]} not decoded from here on: {exc}"
            )

    def _frame(
        self,
        direction: int,
        side: _Direction,
        opcode: Opcode,
        payload: bytes | str | tuple[int, str],
        finished: bool,
    ) -> None:
        message = side.control if opcode in _CONTROL else side.data
        if not message.open:  # wsproto gives a frame in pieces as its bytes arrive
            message.kind, message.size, message.head = _KINDS.get(opcode, str(opcode)), 0, b""
            message.open = True
        if isinstance(payload, tuple):  # a close frame: (code, reason)
            code, reason = payload
            message.kind = f"close {code}"
            data = reason.encode()
        else:
            data = payload.encode() if isinstance(payload, str) else payload
        message.size += len(data)
        if len(message.head) < HEAD:
            message.head += data[: HEAD - len(message.head)]
        if finished:
            message.open = False
            side.messages += 1
            self.log.ws_message(
                self.request_id, _ARROWS[direction], message.kind, message.size, message.head
            )
