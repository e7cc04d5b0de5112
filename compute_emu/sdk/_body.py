"""HTTP bodies: bytes in memory, optionally followed by a stream that is read only on demand.

A body that came from the client or from a backend is *streaming*: nothing is read until the
app asks for it, so a body the app never touches can be passed on (to a backend or to the
client) chunk by chunk without ever being held in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._interface import BodyParts, BodyStream

__all__ = ["Body", "BodyStream"]


class Body:
    """A message body (mirrors ``fastly::Body``)."""

    __slots__ = ("_buffer", "_stream")

    def __init__(self, data: bytes | bytearray | str | None = None) -> None:
        if isinstance(data, str):
            data = data.encode()
        self._buffer = bytearray(data or b"")
        self._stream: BodyStream | None = None

    @classmethod
    def new(cls) -> Body:
        """An empty body (same as ``Body()``)."""
        return cls()

    @classmethod
    def from_stream(cls, stream: BodyStream, prefix: bytes = b"") -> Body:
        """A body that reads ``stream`` lazily after ``prefix``."""
        body = cls(prefix)
        body._stream = stream
        return body

    @classmethod
    def from_parts(cls, parts: BodyParts) -> Body:
        """The body a host value describes (its bytes in memory, then its stream)."""
        if parts.stream is None:
            return cls(parts.prefix)
        return cls.from_stream(parts.stream, parts.prefix)

    # -- reading -------------------------------------------------------------------------
    def _fill(self) -> None:
        """Read the rest of the stream into memory."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        while chunk := stream.read_chunk():
            self._buffer += chunk

    def into_bytes(self) -> bytes:
        """The whole body as bytes (reads any stream to its end)."""
        self._fill()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def into_string(self) -> str:
        """The whole body as UTF-8 text; raises ``UnicodeDecodeError`` if it is not."""
        return self.into_bytes().decode("utf-8")

    def into_string_lossy(self) -> str:
        """The whole body as text, invalid UTF-8 replaced."""
        return self.into_bytes().decode("utf-8", errors="replace")

    def read_chunks(self, size: int) -> Iterator[bytes]:
        """Yield the body in chunks of at most ``size`` bytes, consuming it."""
        if size <= 0:
            raise ValueError("chunk size must be positive")
        while True:
            while len(self._buffer) < size and self._stream is not None:
                chunk = self._stream.read_chunk()
                if not chunk:
                    self._stream = None
                    break
                self._buffer += chunk
            if not self._buffer:
                return
            out = bytes(self._buffer[:size])
            del self._buffer[:size]
            yield out

    def read_lines(self) -> Iterator[str]:
        """Yield the body line by line (newline kept), decoded as UTF-8."""
        pending = bytearray()
        for chunk in self.read_chunks(64 * 1024):
            pending += chunk
            while (end := pending.find(b"\n")) >= 0:
                yield pending[: end + 1].decode()
                del pending[: end + 1]
        if pending:
            yield pending.decode()

    # -- writing -------------------------------------------------------------------------
    def append(self, other: Body | bytes | str) -> None:
        """Append bytes, text or another body (which is consumed)."""
        if isinstance(other, Body):
            other = other.into_bytes()
        elif isinstance(other, str):
            other = other.encode()
        self._fill()
        self._buffer += other

    def write_bytes(self, data: bytes) -> int:
        """Append ``data``; returns its length."""
        self.append(data)
        return len(data)

    def write_str(self, data: str) -> int:
        """Append UTF-8 text; returns the number of bytes written."""
        encoded = data.encode()
        self.append(encoded)
        return len(encoded)

    # -- for the host ----------------------------------------------------------------------
    def is_empty(self) -> bool:
        """True when the body is known to be empty without reading anything."""
        return not self._buffer and self._stream is None

    def known_length(self) -> int | None:
        """The length if the body is fully in memory, else ``None``."""
        return None if self._stream is not None else len(self._buffer)

    def detach(self) -> tuple[bytes, BodyStream | None]:
        """Take the buffered bytes and the unread stream, leaving this body empty."""
        data, stream = bytes(self._buffer), self._stream
        self._buffer = bytearray()
        self._stream = None
        return data, stream

    def take_parts(self) -> BodyParts:
        """The body as a host value (see :meth:`detach`), leaving this body empty."""
        prefix, stream = self.detach()
        return BodyParts(prefix, stream)

    def __len__(self) -> int:
        """Length of the body (reads any stream)."""
        self._fill()
        return len(self._buffer)

    def __repr__(self) -> str:
        state = "streaming" if self._stream is not None else f"{len(self._buffer)} bytes"
        return f"<Body {state}>"
