"""The upload behind ``Request.send_async_streaming()``: a request body the app goes on writing.

The app writes through an :class:`UploadWriter` (the SDK's ``StreamingBody`` wraps it); the
backend request reads the :class:`UploadPipe` behind it: first the request's own body, then
each chunk as it is written. Writes block while the backend is behind (back-pressure). The app
must ``finish()`` the body: until then the backend waits for more. A writer dropped unfinished
(``main()`` returned without finishing) aborts the upload: the backend sees an incomplete
request, as on Fastly.
"""

from __future__ import annotations

import queue
import threading
import weakref

from ..sdk._interface import BodyParts

UPLOAD_QUEUE = 8  # chunks the app may be ahead of the backend (back-pressure beyond)
_END = b""


class UploadPipe:
    """The request body a backend call reads: ``first``, then the chunks the app writes."""

    def __init__(self, first: BodyParts | None = None) -> None:
        self._first = first if first is not None and (first.prefix or first.stream) else None
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

    # the backend request's side (BodyStream)
    def read_chunk(self) -> bytes:
        if self._first is not None:  # the request's own body goes first
            prefix, stream = self._first.prefix, self._first.stream
            if prefix:
                self._first = BodyParts(b"", stream)
                return prefix
            data = stream.read_chunk() if stream is not None else b""
            if data:
                return data
            self._first = None
        chunk = self._queue.get()
        if chunk is None:
            raise BrokenPipeError("the app dropped its streaming body without finish()")
        return chunk


class UploadWriter:
    """What the app holds (a ``StreamSink``): writes go into the pipe. Only the app keeps a
    reference to it, so when the app drops it unfinished the upload is aborted."""

    __slots__ = ("__weakref__", "_pipe")

    def __init__(self, pipe: UploadPipe) -> None:
        self._pipe = pipe
        weakref.finalize(self, pipe.abort)

    @property
    def finished(self) -> bool:
        return self._pipe.finished

    @finished.setter
    def finished(self, value: bool) -> None:  # StreamSink's attribute is writable
        self._pipe.finished = value

    def write(self, data: bytes) -> None:
        self._pipe.write(data)

    def finish(self) -> None:
        self._pipe.finish()
