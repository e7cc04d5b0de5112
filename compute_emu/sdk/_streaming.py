"""``StreamingBody`` (mirrors ``fastly::http::body::StreamingBody``): a response body the app
writes to the client while it runs, e.g. server-sent events it produces itself.

Differences from Rust: ``write`` accepts ``bytes`` or ``str``; the object is a context manager
that finishes the body on exit; a body never finished is ended cleanly when ``main()``
returns (Rust may signal an error to the client instead).
"""

from __future__ import annotations

from types import TracebackType

from ._body import Body
from ._interface import StreamSink

__all__ = ["StreamSink", "StreamingBody"]


class StreamingBody:
    """The body of a response already being sent; each write goes out as it happens."""

    def __init__(self, sink: StreamSink) -> None:
        self._sink = sink

    def write(self, data: bytes | bytearray | str) -> int:
        """Send ``data`` now; returns the number of bytes. Raises ``BrokenPipeError`` if the
        client has gone."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        self._sink.write(raw)
        return len(raw)

    def write_bytes(self, data: bytes) -> int:
        """Same as ``write`` for bytes (Rust name)."""
        return self.write(data)

    def write_str(self, data: str) -> int:
        """Same as ``write`` for text (Rust name)."""
        return self.write(data)

    def append(self, body: Body | bytes | str) -> None:
        """Send the whole of ``body`` (read from its source if it is streaming)."""
        if isinstance(body, Body):
            for chunk in body.read_chunks(64 * 1024):
                self.write(chunk)
        else:
            self.write(body)

    def flush(self) -> None:
        """Each write is already handed to the connection; kept for the Rust API."""

    def finish(self) -> None:
        """End the body cleanly (the client sees a complete response)."""
        self._sink.finish()

    def __enter__(self) -> StreamingBody:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._sink.finished:
            self.finish()
