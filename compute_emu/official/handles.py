"""What a WIT handle stands for here, and the state of one request's sandbox.

A WIT resource (``http_req.Request``, ``http_resp.Response``, ``async_io.Pollable``, ...) is
an instance of the stub's class carrying a compute-emu object in ``_emu``: a
``compute_emu.sdk`` ``Request``/``Response``, a :class:`BodyHandle`, a ``PendingRequest``. So
the official SDK runs on the same host as ``compute_emu.sdk`` apps, through the same paths.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, MutableSet
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..runtime.bridge import body_length
from ..sdk._body import Body
from ..sdk._request import Request
from ..sdk._streaming import StreamingBody
from . import registry


@dataclass
class BodyHandle:
    """An ``http-body``: bytes (maybe streaming in), or the client response being streamed."""

    body: Body = field(default_factory=Body)
    out: StreamingBody | None = None  # set by send-downstream-streaming
    closed: bool = False

    def take(self) -> Body:
        """The body, for sending: the handle is consumed (as a WIT body handle is)."""
        body, self.body = self.body, Body()
        self.closed = True
        return body

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end (blocks while a stream has nothing yet)."""
        data, stream = self.body.detach()
        if not data and stream is not None:
            data = stream.read_chunk()
            if not data:
                stream = None
        out, rest = data[:size], data[size:]
        self.body = Body.from_stream(stream, rest) if stream is not None else Body(rest)
        return out

    def known_length(self) -> int | None:
        """The body's whole length when it is known without reading it (in memory, or a
        stream whose sender declared it), else ``None``."""
        prefix, stream = self.body.detach()
        self.body = Body.from_stream(stream, prefix) if stream is not None else Body(prefix)
        return body_length(prefix, stream)

    def write(self, data: bytes) -> int:
        if self.out is not None:
            return self.out.write(data)
        self.body.append(bytes(data))
        return len(data)

    def write_front(self, data: bytes) -> None:
        prefix, stream = self.body.detach()
        joined = bytes(data) + prefix
        self.body = Body.from_stream(stream, joined) if stream is not None else Body(joined)


@dataclass
class Sandbox:
    """What one request's Wasm sandbox would hold, reset for every request."""

    downstream: Request | None = None
    dynamic_backends: set[str] = field(default_factory=set)  # for fastly_compute.requests
    cpu_start: float = field(default_factory=time.thread_time)  # for get-vcpu-ms


_sandbox: ContextVar[Sandbox | None] = ContextVar("compute_emu_official_sandbox", default=None)


@contextlib.contextmanager
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox for the duration of one request (in this thread/context)."""
    state = Sandbox()
    token = _sandbox.set(state)
    try:
        yield state
    finally:
        _sandbox.reset(token)


def current() -> Sandbox:
    """The running request's sandbox; a clear error outside of one."""
    state = _sandbox.get()
    if state is None:
        raise RuntimeError(
            "the fastly_compute SDK needs a running request: call it from "
            "HttpIncoming.handle() under `compute-emu serve`"
        )
    return state


class SandboxSet(MutableSet[str]):
    """A set that lives in the current sandbox: stands in for module globals of the SDK that
    a Wasm sandbox starts afresh each request (``fastly_compute.requests``' backend names)."""

    def _items(self) -> set[str]:
        state = _sandbox.get()
        return state.dynamic_backends if state is not None else set()

    def __contains__(self, item: object) -> bool:
        return item in self._items()

    def __iter__(self) -> Iterator[str]:
        return iter(set(self._items()))

    def __len__(self) -> int:
        return len(self._items())

    def add(self, value: str) -> None:
        self._items().add(value)

    def discard(self, value: str) -> None:
        self._items().discard(value)


def new(module: str, cls_name: str, emu: object) -> Any:
    """A WIT resource of ``wit_world.imports.<module>.<cls_name>`` wrapping ``emu``."""
    cls = getattr(registry.wit(module), cls_name)
    handle = cls.__new__(cls)
    handle._emu = emu
    return handle


def emu(handle: object, kind: type | tuple[type, ...] | None = None) -> Any:
    """The compute-emu object behind a WIT handle (an InvalidArgument error if none)."""
    value = getattr(handle, "_emu", None)
    if value is None or (kind is not None and not isinstance(value, kind)):
        raise registry.error("InvalidArgument")
    return value


def body_of(handle: object) -> BodyHandle:
    """The :class:`BodyHandle` behind an ``http-body`` handle."""
    body: BodyHandle = emu(handle, BodyHandle)
    return body


def pollable(value: object) -> Any:
    """An ``async_io.Pollable`` for ``value`` (a body, a pending request, ...)."""
    return new("async_io", "Pollable", value)


def new_body(body: Body | None = None) -> Any:
    """An ``http-body`` handle."""
    return pollable(BodyHandle(body if body is not None else Body()))
