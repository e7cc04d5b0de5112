"""Find the end of a ``Transfer-Encoding: chunked`` body without copying its payload.

:class:`ChunkedScanner` is fed the raw bytes of a chunked body as they arrive and says how
many of them belong to the body; the bytes themselves stay where they are (a relay writes
them on unchanged). It only looks at the framing: chunk-size lines (with extensions), the
CRLF after each chunk's data, and the trailer section after the last chunk. Whatever follows
the final CRLF is not part of the body.

The framing is checked strictly, as h11 >= 0.16 does and in places more so, because the
bytes go on to another parser that must see the same end: a chunk's data ends in exactly
CRLF, sizes are 1-20 hex digits, a size line (extensions included) is at most
``max_line`` bytes, lines end in CRLF only (h11 also takes a bare LF in trailers), and
neither extensions nor trailer fields may hold control characters (HTAB aside) or an
obs-fold.
"""

from __future__ import annotations

import re

MAX_LINE = 4096  # a chunk-size line with its extensions, CRLF excluded
MAX_TRAILERS = 16 * 1024  # the whole trailer section, CRLFs included

# size (h11's limit: 20 hex digits), optional extensions, optional trailing whitespace
_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?[ \t]*")
_TRAILER_LINE = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*")
_CRLF = b"\r\n"
_HEX_DIGITS = b"0123456789ABCDEFabcdef"

_SIZE, _DATA, _DATA_END, _TRAILERS, _DONE, _FAILED = range(6)


class ChunkedError(Exception):
    """The bytes are not a valid chunked body (or it ended before its last chunk)."""


class ChunkedScanner:
    """Track where a chunked body ends, one ``feed`` at a time (sans-I/O)."""

    __slots__ = (
        "_line",
        "_remaining",
        "_state",
        "_trailer_bytes",
        "max_line",
        "max_trailers",
        "payload_bytes",
        "wire_bytes",
    )

    def __init__(self, max_line: int = MAX_LINE, max_trailers: int = MAX_TRAILERS) -> None:
        self.max_line = max_line
        self.max_trailers = max_trailers
        self.wire_bytes = 0  # body bytes scanned so far, framing included
        self.payload_bytes = 0  # chunk data bytes among them
        self._state = _SIZE
        self._remaining = 0  # chunk data still due (_DATA), or CRLF bytes still due
        self._line = bytearray()  # a size or trailer line split across feeds
        self._trailer_bytes = 0

    @property
    def done(self) -> bool:
        """True once the last chunk, the trailers and the final CRLF have been seen."""
        return self._state == _DONE

    def feed(self, data: bytes | bytearray, spans: list[tuple[int, int]] | None = None) -> int:
        """Scan ``data``; return how many of its leading bytes belong to the body.

        That is ``len(data)`` unless the body ends inside ``data``: the rest is trailing
        data (the next response's bytes, never part of this body). Once :attr:`done`, every
        feed returns 0. With ``spans``, the ``(start, end)`` offsets of chunk data inside
        ``data`` are appended to it (for a relay that must de-chunk). Raises
        :class:`ChunkedError` on invalid framing, and from then on.
        """
        state = self._state
        if state == _DONE:
            return 0
        if state == _FAILED:
            raise ChunkedError("the chunked body was already invalid")
        pos, end = 0, len(data)
        try:
            while pos < end:
                if state == _SIZE and not self._line:  # a size line inside ``data``
                    i = data.find(_CRLF, pos, min(end, pos + self.max_line + 2))
                    if i >= 0:
                        size = self._size(data[pos:i])
                        pos = i + 2
                        stop = pos + size
                        if not size:
                            state = _TRAILERS
                        elif data[stop : stop + 2] == _CRLF:  # the whole chunk is here
                            if spans is not None:
                                spans.append((pos, stop))
                            self.payload_bytes += size
                            pos = stop + 2
                        else:
                            state, self._remaining = _DATA, size
                        continue
                if state == _DATA:
                    n = min(self._remaining, end - pos)
                    if spans is not None:
                        spans.append((pos, pos + n))
                    pos += n
                    self.payload_bytes += n
                    self._remaining -= n
                    if not self._remaining:
                        state, self._remaining = _DATA_END, 2
                elif state == _DATA_END:
                    expected = _CRLF[2 - self._remaining :]
                    got = data[pos : pos + len(expected)]
                    if got != expected[: len(got)]:
                        raise ChunkedError(f"chunk data not followed by CRLF: {bytes(got)!r}")
                    pos += len(got)
                    self._remaining -= len(got)
                    if not self._remaining:
                        state = _SIZE
                else:  # _SIZE or _TRAILERS: a line
                    if state == _SIZE:
                        limit = self.max_line
                    else:
                        limit = self.max_trailers - self._trailer_bytes - 2
                    pos, line = self._take_line(data, pos, end, limit, state)
                    if line is not None:
                        state = self._on_line(state, line)
                        if state == _DONE:
                            break
        except ChunkedError:
            self._state = _FAILED
            raise
        self._state = state
        self.wire_bytes += pos
        return pos

    def feed_eof(self) -> None:
        """The body's bytes stopped coming: raise :class:`ChunkedError` unless it ended."""
        if self._state != _DONE:
            self._state = _FAILED
            raise ChunkedError("the connection closed before the end of the chunked body")

    def _take_line(
        self, data: bytes | bytearray, pos: int, end: int, limit: int, state: int
    ) -> tuple[int, bytes | None]:
        """Find the CRLF ending the current line: (new position, the line or None)."""
        held = len(self._line)
        if not held:  # the common case: the whole line is in ``data``
            stop = min(end, pos + limit + 2)
            i = data.find(_CRLF, pos, stop)
            if i >= 0:
                return i + 2, bytes(data[pos:i])
            if stop - pos >= limit + 2:
                raise self._too_long(state, limit)
            self._line += data[pos:end]
            return end, None
        piece = data[pos : pos + limit + 2 - held]
        self._line += piece
        i = self._line.find(_CRLF, max(0, held - 1))
        if i >= 0:
            line = bytes(self._line[:i])
            del self._line[:]
            return pos + i + 2 - held, line
        if len(self._line) >= limit + 2:
            raise self._too_long(state, limit)
        return pos + len(piece), None

    def _too_long(self, state: int, limit: int) -> ChunkedError:
        if state == _SIZE:
            return ChunkedError(f"chunk size line longer than {limit} bytes")
        return ChunkedError(f"trailer section longer than {self.max_trailers} bytes")

    @staticmethod
    def _size(line: bytes | bytearray) -> int:
        """The chunk size a size line (CRLF excluded) gives; ChunkedError if it is illegal."""
        if 0 < len(line) <= 20 and not line.translate(None, _HEX_DIGITS):  # the usual line
            return int(line, 16)
        match = _SIZE_LINE.fullmatch(line)
        if match is None:
            raise ChunkedError(f"illegal chunk size line: {bytes(line[:80])!r}")
        return int(match[1], 16)

    def _on_line(self, state: int, line: bytes) -> int:
        """The state after a complete size or trailer line."""
        if state == _SIZE:
            self._remaining = self._size(line)
            return _DATA if self._remaining else _TRAILERS
        self._trailer_bytes += len(line) + 2
        if not line:
            return _DONE
        if _TRAILER_LINE.fullmatch(line) is None:
            raise ChunkedError(f"illegal trailer line: {line[:80]!r}")
        return _TRAILERS


def take_payload(scanner: ChunkedScanner, buffer: bytearray) -> bytes:
    """Scan the chunked bytes at the start of ``buffer``, remove them from it and return
    their chunk data (de-chunked); what follows the body stays. Raises ChunkedError."""
    spans: list[tuple[int, int]] = []
    used = scanner.feed(buffer, spans)
    view = memoryview(buffer)
    data = b"".join([view[start:end] for start, end in spans])
    view.release()
    del buffer[:used]
    return data
