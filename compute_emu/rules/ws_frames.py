"""Count the messages of a WebSocket byte stream from its frame headers alone (sans-I/O).

:class:`FrameCounter` is fed what a relay passes on in one direction, as it arrives, and
counts frames by their headers (RFC 6455 §5.2): the FIN bit, the opcode and the payload
length. Payloads are skipped by arithmetic, never unmasked, decoded or copied; only a
header split across two reads is kept (at most 13 bytes). A *message* is a data frame
(text, binary or continuation) with FIN set, as fragments and extensions (permessage-deflate
sets RSV1 on a message's first frame) leave that count unchanged; control frames (ping, pong,
close) are counted apart.

What is not a frame header (a reserved opcode, a control frame that is fragmented or longer
than 125 bytes, a 64-bit length with its top bit set) stops the count for good: ``broken``
is set and the counts stay as they were (a 101 to something other than WebSocket).
"""

from __future__ import annotations

MAX_HEADER = 14  # 2 + 8 (64-bit length) + 4 (mask key)
_DATA_OPCODES = (0x0, 0x1, 0x2)
_CONTROL_OPCODES = (0x8, 0x9, 0xA)


class FrameCounter:
    """Messages and control frames of one direction of a WebSocket, one ``feed`` at a time."""

    __slots__ = ("_head", "_skip", "broken", "controls", "messages")

    def __init__(self) -> None:
        self.messages = 0  # data frames with FIN: whole messages
        self.controls = 0  # ping, pong and close frames
        self.broken = False  # not WebSocket framing: counting stopped
        self._skip = 0  # payload bytes of the current frame still to come
        self._head = b""  # the start of a frame header split across feeds

    def feed(self, data: bytes) -> None:
        """Count the frames whose headers are in ``data`` (the next bytes of the stream)."""
        size = len(data)
        skip = self._skip
        if skip >= size:  # all payload (the usual case for big messages): nothing to look at
            self._skip = skip - size
            return
        if self.broken:
            return
        pos = skip
        if self._head:
            pos = self._joined(data)
            if pos < 0:
                return
        while pos < size:
            if size - pos < 2:
                self._head = data[pos:]
                self._skip = 0
                return
            b0 = data[pos]
            b1 = data[pos + 1]
            length = b1 & 0x7F
            end = pos + 2 + (b1 >> 7) * 4  # the mask key follows the length
            if length == 126:
                end += 2
                if end > size:
                    self._head = data[pos:]
                    self._skip = 0
                    return
                length = (data[pos + 2] << 8) | data[pos + 3]
            elif length == 127:
                end += 8
                if end > size:
                    self._head = data[pos:]
                    self._skip = 0
                    return
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            elif end > size:
                self._head = data[pos:]
                self._skip = 0
                return
            if not self._count(b0, length):
                return
            pos = end + length
        self._skip = pos - size

    def _count(self, b0: int, length: int) -> bool:
        opcode = b0 & 0x0F
        if opcode in _DATA_OPCODES and length < 1 << 63:
            if b0 & 0x80:
                self.messages += 1
            return True
        if opcode in _CONTROL_OPCODES and b0 & 0x80 and length <= 125:
            self.controls += 1
            return True
        self.broken = True
        self._head = b""
        self._skip = 0
        return False

    def _joined(self, data: bytes) -> int:
        """Finish the split header with the first bytes of ``data``: where in ``data`` the
        frame's payload starts, or -1 if there is nothing more to do with ``data``."""
        kept = len(self._head)
        head = self._head + data[: MAX_HEADER - kept]
        if len(head) < 2:
            self._head = head
            return -1
        b1 = head[1]
        length = b1 & 0x7F
        extra = 2 if length == 126 else 8 if length == 127 else 0
        need = 2 + extra + (b1 >> 7) * 4
        if len(head) < need:
            self._head = head  # all of data is in it (data was shorter than the rest)
            return -1
        if length == 126:
            length = (head[2] << 8) | head[3]
        elif length == 127:
            length = int.from_bytes(head[2:10], "big")
        self._head = b""
        if not self._count(head[0], length):
            return -1
        pos = need - kept + length
        if pos > len(data):
            self._skip = pos - len(data)
            return -1
        return pos
