"""The app's host: the SDK's host interface for one request, on the app's thread.

A thin façade. Each call either hands back a value it was given (the client request, built on
the loop before ``main()`` started) or runs one verb of the request's loop-side
:class:`~compute_emu.runtime.scope.RequestScope`: values go down, values come back, and no
state of its own needs a lock. The loop calls a thread waits for are cancelled together when
the client leaves (:class:`~compute_emu.runtime.bridge.Calls`): they then raise
``ClientLeft`` in the app.

The app's answer to its client goes down once, without waiting for the loop (as
``send_downstream`` returns at once on Compute): what it may not decide is refused here first
(:mod:`~compute_emu.runtime.decision`'s rules), and a second answer is refused by the one-shot
record of the first, as the client request is handed out once. The answer and ``main()``
returning reach the loop through the same mailbox (the worker pool's), so the loop sees them
in the order they happened.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, cast

from ..sdk._host import bind_host
from ..sdk._interface import (
    BackendInfo,
    BackendResponse,
    BodyParts,
    ClientRequestParts,
    Handle,
    HandoffKind,
    OutgoingRequest,
    OutgoingResponse,
    StreamSink,
)
from .decision import Decision, Handoff, Respond, handoff_refusal, sendable, unrouted_fanout
from .pending import PendingCall
from .platform_calls import PlatformCalls
from .upload import UploadPipe, UploadWriter

if TYPE_CHECKING:
    from ..aio.loop import Calls
    from .scope import RequestScope
    from .services import Services


class Hostcalls(PlatformCalls):
    """Implements :class:`compute_emu.sdk._interface.Host` for one request: the HTTP, backend
    and log calls here, the store, lookup, cache and instance calls from :class:`PlatformCalls`."""

    services: Services  # the server's (the platform calls read it too)
    calls: Calls  # the loop calls this thread waits for

    def __init__(self, scope: RequestScope, client: ClientRequestParts) -> None:
        self._scope = scope
        self.calls = scope.calls  # the loop calls this thread waits for
        self.services = scope.services  # the server's (the platform calls read it too)
        self._loop = scope.services.loop
        self._log = scope.services.log
        self._client: ClientRequestParts | None = client
        self._client_body = scope.client_body  # recorded on this thread as the app reads it
        self._backends = scope.backends  # the request's snapshot (an immutable value)
        self._answered: str | None = None  # what the app's one answer was, once given
        self.request_id = scope.request_id
        self.trace_id = client.request_id  # FASTLY_TRACE_ID: 32 hex digits

    def bound(self) -> AbstractContextManager[None]:
        """This host bound as the SDK's current host (around ``main()`` and the app's hooks)."""
        return bind_host(self)

    # -- the client request and its answer ------------------------------------------------
    def take_client_request(self) -> ClientRequestParts:
        client, self._client = self._client, None
        if client is None:
            raise RuntimeError("Request.from_client() can only be called once per request")
        return client

    def send_to_client(self, response: OutgoingResponse) -> None:
        if not sendable(response.status):
            self._log.warning(
                f"#{self.request_id} the app sent an informational response (103) which is "
                "not sent to the client (as in Viceroy); its real response follows"
            )
            return
        self._hand_down(Respond(response), "send a response")

    def stream_to_client(self, response: OutgoingResponse) -> StreamSink:
        self._unanswered("stream a response")
        self._stop_recording()
        sink = self.calls.call(self._scope.stream, response)
        self._answered = "a response was already sent"
        return sink

    def handoff(self, request: OutgoingRequest, backend: str, kind: HandoffKind) -> None:
        if kind == "websocket" and backend not in self._backends:
            raise self._loop.call(self._scope.unknown_backend, backend)
        if unrouted_fanout(self._backends, backend, kind):
            self._log.warning(
                f"#{self.request_id} handoff_fanout(): {backend!r} is not a backend in "
                f"{self.services.manifest_name}, so Pushpin has no route for it (it answers 502)"
            )
        replay_lost = self._client_body is not None and self._client_body.replay_lost
        services = self.services
        refusal = handoff_refusal(
            backend, kind, replay_lost, services.fanout_proxy_port, services.manifest_name
        )
        if refusal is not None:
            raise refusal
        self._hand_down(Handoff(request, backend, kind), f"hand off to {kind}")

    def _unanswered(self, what: str) -> None:
        if self._answered is not None:
            raise RuntimeError(f"cannot {what}: {self._answered} for this request")

    def _stop_recording(self) -> None:
        if self._client_body is not None:
            self._client_body.stop_recording()  # no handoff can follow an answer

    def _hand_down(self, decision: Decision, what: str) -> None:
        if self._answered is not None:
            raise RuntimeError(f"cannot {what}: {self._answered} for this request")
        handoff = isinstance(decision, Handoff)
        if not handoff and self._client_body is not None:
            self._client_body.stop_recording()  # no handoff can follow an answer
        self._answered = (
            "the request was already handed off" if handoff else "a response was already sent"
        )
        self._loop.notify(self._scope.decide, decision)

    # -- backends ----------------------------------------------------------------------------
    def send(self, request: OutgoingRequest, backend: str) -> BackendResponse:
        return self.calls.run(self._scope.send, request, backend)

    def send_async(self, request: OutgoingRequest, backend: str) -> Handle:
        return self.calls.run(self._scope.start_pending, request, backend)

    def send_async_streaming(
        self, request: OutgoingRequest, backend: str
    ) -> tuple[StreamSink, Handle]:
        pipe = UploadPipe(request.body)
        upload = dataclasses.replace(request, body=BodyParts(b"", pipe))
        pending = self.calls.run(self._scope.start_pending, upload, backend)
        return UploadWriter(pipe), pending  # made here: only the app holds the writer

    def pending_ready(self, pending: Handle) -> bool:
        return cast(PendingCall, pending).is_done()

    def wait_pending(self, pending: Handle) -> BackendResponse:
        return self.calls.run(self._scope.collect, cast(PendingCall, pending))

    def select(self, pending: Sequence[Handle]) -> int:
        return self.calls.run(self._scope.select, [cast(PendingCall, p) for p in pending])

    def backend(self, name: str) -> BackendInfo | None:
        return self.calls.call(self._scope.backend, name)

    def register_backend(self, backend: BackendInfo) -> bool:
        return self.calls.call(self._scope.register_backend, backend)

    # -- logs ----------------------------------------------------------------------------------
    def log_write(self, endpoint: str, line: str) -> None:
        """One line to a log endpoint, shown as ``NAME :: line`` with its request."""
        self._log.app_output(self.request_id, f"{endpoint} :: {line}")
