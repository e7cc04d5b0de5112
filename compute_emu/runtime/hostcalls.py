"""The app's host: the SDK's host interface for one request, on the app's thread.

A thin façade. Each call either hands back a value it was given (the client request, built on
the loop before ``main()`` started) or runs one verb of the request's loop-side
:class:`~compute_emu.runtime.scope.RequestScope` and waits for it: values go down, values come
back, and no state of its own needs a lock. The loop calls a thread waits for are cancelled
together when the client leaves (:class:`~compute_emu.runtime.bridge.Calls`): they then raise
``ClientLeft`` in the app.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..sdk._host import bind_host
from ..sdk._interface import (
    BackendInfo,
    BackendResponse,
    BodyParts,
    ClientRequestParts,
    Handle,
    HandoffKind,
    Host,
    OutgoingRequest,
    OutgoingResponse,
    StreamSink,
)
from .pending import PendingCall
from .upload import UploadPipe, UploadWriter

if TYPE_CHECKING:
    from ..platform import Platform
    from .scope import RequestScope

T = TypeVar("T")


class Hostcalls:
    """Implements :class:`compute_emu.sdk._interface.Host`'s HTTP, backend and log calls for
    one request (the store, lookup, cache and instance calls are the platform's)."""

    def __init__(self, scope: RequestScope, client: ClientRequestParts) -> None:
        self._scope = scope
        self._calls = scope.calls
        self._loop = scope.services.loop
        self._log = scope.services.log
        self._client: ClientRequestParts | None = client
        self.request_id = scope.request_id
        self.trace_id = client.request_id  # FASTLY_TRACE_ID: 32 hex digits
        self._services = scope.services  # for ``platform`` and ``cache_run`` (until merged)

    @contextmanager
    def bound(self) -> Iterator[None]:
        """This host bound as the SDK's current host (around ``main()`` and the app's hooks)."""
        with bind_host(cast(Host, self)):  # a Host whole once the platform calls are a base
            yield

    def answered(self) -> bool:
        """Whether the app decided what its client gets (for the handler's warning)."""
        return self._loop.call(self._scope.has_decided)

    # -- the client request and its answer ------------------------------------------------
    def take_client_request(self) -> ClientRequestParts:
        client, self._client = self._client, None
        if client is None:
            raise RuntimeError("Request.from_client() can only be called once per request")
        return client

    def send_to_client(self, response: OutgoingResponse) -> None:
        # decided even after the client left (then silently): never cancelled
        self._loop.call(self._scope.respond, response)

    def stream_to_client(self, response: OutgoingResponse) -> StreamSink:
        return self._calls.call(self._scope.stream, response)

    def handoff(self, request: OutgoingRequest, backend: str, kind: HandoffKind) -> None:
        self._loop.call(self._scope.handoff, request, backend, kind)

    # -- backends ----------------------------------------------------------------------------
    def send(self, request: OutgoingRequest, backend: str) -> BackendResponse:
        return self._calls.run(self._scope.send, request, backend)

    def send_async(self, request: OutgoingRequest, backend: str) -> Handle:
        return self._calls.run(self._scope.start_pending, request, backend)

    def send_async_streaming(
        self, request: OutgoingRequest, backend: str
    ) -> tuple[StreamSink, Handle]:
        pipe = UploadPipe(request.body)
        upload = dataclasses.replace(request, body=BodyParts(b"", pipe))
        pending = self._calls.run(self._scope.start_pending, upload, backend)
        return UploadWriter(pipe), pending  # made here: only the app holds the writer

    def pending_ready(self, pending: Handle) -> bool:
        return cast(PendingCall, pending).is_done()

    def wait_pending(self, pending: Handle) -> BackendResponse:
        return self._calls.run(self._scope.collect, cast(PendingCall, pending))

    def select(self, pending: Sequence[Handle]) -> int:
        return self._calls.run(self._scope.select, [cast(PendingCall, p) for p in pending])

    def backend(self, name: str) -> BackendInfo | None:
        return self._calls.call(self._scope.backend, name)

    def register_backend(self, backend: BackendInfo) -> bool:
        return self._calls.call(self._scope.register_backend, backend)

    # -- logs ----------------------------------------------------------------------------------
    def log_write(self, endpoint: str, line: str) -> None:
        """One line to a log endpoint, shown as ``NAME :: line`` with its request."""
        self._log.app_output(self.request_id, f"{endpoint} :: {line}")

    # -- until the store and cache SDK modules speak the host interface ------------------------
    @property
    def platform(self) -> Platform:
        """The stores and lookups of this server (shared by every request)."""
        return self._services.platform

    def cache_run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``func(cache_store, *args)`` on the loop (the cache SDK modules use it)."""
        return self._calls.run(func, self._services.cache, *args)
