"""Calling ``fastly:compute`` imports the WIT way, for the Wasm host (``_wit_host.py``).

componentize-py's bindings return a WIT ``result``'s error as ``componentize_py_types.Err``
(or, once the app has imported ``fastly_compute``, as the SDK's exception raised from that
``Err``): :func:`calling` turns it into the interface's :class:`HostError`. A getter with a
``max-len`` answers ``error.buffer-len`` with the length it needs (:func:`sized` asks again);
lists come NUL-separated from a cursor on (:func:`listed`). Bodies cross as ``http-body``
handles: :class:`WitBodyStream` reads one, :class:`WitSink` writes one, :func:`body_handle`
makes one from the interface's :class:`BodyParts`.

Standard library only besides the bindings: this runs inside the component.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from componentize_py_types import Err  # type: ignore[import-not-found]
from wit_world.imports import http_body  # type: ignore[import-not-found]

from ._interface import BodyParts, HostError
from ._wit_values import buffer_len, host_error, nul_items

T = TypeVar("T")
FIRST_SIZE = 1024  # the first max-len of a getter; the host says how much more it needs
CHUNK = 64 * 1024  # bytes asked of http-body.read at a time


def err_of(exc: BaseException) -> Any:
    """The ``Err`` behind ``exc`` (itself, or the cause of the SDK's ``FastlyError``), or
    ``None`` when ``exc`` is no WIT error."""
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, Err):
            return candidate
    return None


@contextlib.contextmanager
def calling(call: str) -> Iterator[None]:
    """Inside the block, a WIT error becomes ``HostError`` naming ``call``
    (``"kv-store.lookup"``); other exceptions pass."""
    try:
        yield
    except Exception as exc:
        err = err_of(exc)
        if err is None:
            raise
        raise host_error(err.value, call) from None


def sized(read: Callable[[int], T], call: str, size: int = FIRST_SIZE) -> T:
    """``read(max_len)``, asked again with the length the host needs while it answers
    ``buffer-len``; any other WIT error is a ``HostError``."""
    while True:
        try:
            return read(size)
        except Exception as exc:
            err = err_of(exc)
            if err is None:
                raise
            needed = buffer_len(err.value)
            if needed is None or needed <= size:
                raise host_error(err.value, call) from None
            size = needed


def listed(read: Callable[[int, int], tuple[Any, int | None]], call: str) -> list[bytes]:
    """Every item of a NUL-separated list that ``read(max_len, cursor)`` gives page by page."""
    items: list[bytes] = []
    cursor = 0
    while True:
        data, following = sized(functools.partial(_page, read, cursor), call)
        items += nul_items(data)
        if following is None:
            return items
        if following <= cursor:
            raise HostError("unexpected", f"{call}: the cursor did not move on ({following})")
        cursor = following


def _page(read: Callable[[int, int], T], cursor: int, size: int) -> T:
    return read(size, cursor)


def grouped_headers(message: Any, call: str) -> dict[str, list[bytes]]:
    """A request's or response's header fields as the WIT lists them: each name once (as the
    host spells it), with its values in order."""
    fields: dict[str, list[bytes]] = {}
    for raw in listed(message.get_header_names, f"{call}.get-header-names"):
        name = raw.decode("latin-1")
        values = functools.partial(message.get_header_values, name)
        fields[name] = listed(values, f"{call}.get-header-values")
    return fields


class WitBodyStream:
    """An ``http-body`` read on demand (``BodyStream``): the client's body, a backend's, a
    cached object's. Passed on whole (sent, appended) without being read here."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self._done = False

    def read_chunk(self) -> bytes:
        if self._done:
            return b""
        with calling("http-body.read"):
            data = bytes(http_body.read(self.handle, CHUNK))
        if not data:
            self._done = True
        return data

    def take(self) -> Any:
        """The handle, for the host to read from now on (this stream ends here)."""
        self._done = True
        return self.handle


def write_all(handle: Any, data: bytes) -> None:
    """Write all of ``data`` to an ``http-body`` (``write`` may take less than it is given)."""
    view = memoryview(data)
    while view:
        written = int(http_body.write(handle, bytes(view)))
        if written <= 0:
            raise HostError("unexpected", "http-body.write took none of the bytes")
        view = view[written:]


class WitSink:
    """A ``StreamSink`` over a body still open for writing: a streamed client response, a
    streaming upload, a cache insert. ``finish()`` closes it (a successful end)."""

    def __init__(self, handle: Any, call: str) -> None:
        self.handle = handle
        self.finished = False
        self._call = call

    def write(self, data: bytes) -> None:
        if self.finished:
            raise RuntimeError("the streaming body was already finished")
        try:
            write_all(self.handle, bytes(data))
        except Exception as exc:
            if err_of(exc) is None:
                raise
            raise BrokenPipeError(
                f"{self._call}: the body is closed (its reader went away)"
            ) from None

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        with calling("http-body.close"):
            http_body.close(self.handle)


def new_body(data: bytes = b"") -> Any:
    """A new ``http-body`` holding ``data``."""
    with calling("http-body.new"):
        handle = http_body.new()
        if data:
            write_all(handle, data)
    return handle


def body_handle(parts: BodyParts, writable: bool = False) -> Any:
    """An ``http-body`` holding ``parts``: its bytes, then its stream. A stream that is an
    ``http-body`` already is passed on or appended by the host (never read here); another is
    read whole. ``writable``: a new body the caller goes on writing to."""
    stream = parts.stream
    if isinstance(stream, WitBodyStream) and not parts.prefix and not writable:
        return stream.take()
    handle = new_body(parts.prefix)
    with calling("http-body.append"):
        if isinstance(stream, WitBodyStream):
            http_body.append(handle, stream.take())
        elif stream is not None:
            while chunk := stream.read_chunk():
                write_all(handle, chunk)
    return handle


def read_all(handle: Any, call: str) -> bytes:
    """The whole of an ``http-body`` (a KV value, a list page, an ACL match)."""
    chunks = []
    with calling(call):
        while chunk := http_body.read(handle, CHUNK):
            chunks.append(bytes(chunk))
    return b"".join(chunks)
