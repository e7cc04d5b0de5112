"""Body streams the SDK makes itself: a gunzipping view of a backend body, and the upload
pipe behind ``Request.send_async_streaming()``."""

from __future__ import annotations

import queue
import threading
import zlib
from typing import TYPE_CHECKING

from ._body import Body, BodyStream

if TYPE_CHECKING:
    from ._request import Request
    from ._response import Response

UPLOAD_QUEUE = 8  # chunks the app may be ahead of the backend (back-pressure beyond)
_END = b""


class GunzipStream:
    """``inner``'s bytes, gzip-decoded as they are read (for ``set_auto_decompress_gzip``)."""

    def __init__(self, prefix: bytes, inner: BodyStream | None) -> None:
        self._pending = prefix
        self._inner = inner
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._done = False

    def read_chunk(self) -> bytes:
        while not self._done:
            raw, self._pending = self._pending, b""
            if not raw and self._inner is not None:
                raw = self._inner.read_chunk()
            if not raw:
                self._done = True
                return self._zlib.flush()
            try:
                out = self._zlib.decompress(raw)
            except zlib.error as exc:
                raise ValueError(f"the backend's gzip body is invalid: {exc}") from None
            if self._zlib.eof:  # a second gzip member may follow
                rest = self._zlib.unused_data
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._pending = rest
            if out:
                return out
        return b""


def gunzip_response_body(body: Body) -> Body:
    """A body that decodes ``body`` (which is consumed) lazily."""
    prefix, stream = body.detach()
    return Body.from_stream(GunzipStream(prefix, stream))


def gunzip_if_asked(request: Request, response: Response) -> Response:
    """With ``set_auto_decompress_gzip(True)``, a gzip response body is decoded as it is read
    and its ``Content-Encoding``/``Content-Length`` are removed (as on Fastly)."""
    if not request._auto_decompress_gzip:
        return response
    encoding = (response.get_header("content-encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        response.remove_header("content-encoding")
        response.remove_header("content-length")
        response._body = gunzip_response_body(response._body)
    return response


class UploadPipe:
    """Chunks the app writes to a ``StreamingBody``, read by the host as a request body.

    Writes block while the backend is behind. The app must ``finish()`` the body: until then
    the backend waits for more. If the ``StreamingBody`` is dropped unfinished (``main()``
    returned), the upload is aborted: the backend sees an incomplete request, as on Fastly.
    """

    def __init__(self, first: Body | None = None) -> None:
        self._first: tuple[bytes, BodyStream | None] | None = first.detach() if first else None
        self._queue: queue.Queue[bytes | None] = queue.Queue(UPLOAD_QUEUE)
        self._lock = threading.Lock()
        self.finished = False
        self.aborted = False

    # the app's side (StreamSink)
    def write(self, data: bytes) -> None:
        if self.finished:
            raise RuntimeError("the streaming body was already finished")
        if data:
            self._queue.put(bytes(data))

    def finish(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.finished = True
        self._queue.put(_END)

    def abort(self) -> None:
        """The app dropped the body without finishing it."""
        with self._lock:
            if self.finished:
                return
            self.finished = self.aborted = True
        self._queue.put(None)

    # the host's side (BodyStream)
    def read_chunk(self) -> bytes:
        if self._first is not None:  # the request's own body goes first
            prefix, stream = self._first
            if prefix:
                self._first = (b"", stream)
                return prefix
            data = stream.read_chunk() if stream is not None else b""
            if data:
                return data
            self._first = None
        chunk = self._queue.get()
        if chunk is None:
            raise BrokenPipeError("the app dropped its streaming body without finish()")
        return chunk
