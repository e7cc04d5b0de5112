"""The loop side of one request: its state, and the verbs the app's calls come down to.

A :class:`RequestScope` lives on the event loop, one per client request. It holds what the
request sees and does: the backends of fastly.toml as they were when it came (a snapshot),
the dynamic backends it registered (with their TLS contexts), its backend and pending calls,
the notes of its log line, and the app's :mod:`~compute_emu.runtime.decision`. The app's
thread reaches it only through :class:`~compute_emu.runtime.hostcalls.Hostcalls`, one loop
call per SDK call; nothing here is touched from another thread, so nothing here is locked.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from ..aio.loop import Calls, LoopFlag
from ..aio.workers import call_in_worker
from ..log import AppOutput
from ..manifest import BackendConfig
from ..sdk._errors import SendError, SendErrorCause
from ..sdk._interface import BackendInfo, BackendResponse, OutgoingRequest, OutgoingResponse
from .bridge import LoopBodyStream
from .decision import ClientWentAway, Decision, Failed, Returned, Stream
from .pending import PendingCall, first_done
from .readthrough import cached_send
from .send import BackendCall
from .services import Services
from .streaming import StreamingSink

T = TypeVar("T")


def backend_info(config: BackendConfig) -> BackendInfo:
    """A fastly.toml backend as the SDK sees it."""
    return BackendInfo(
        name=config.name,
        host=config.host,
        port=config.port,
        use_ssl=config.scheme == "https",
        path_prefix=config.path_prefix,
        override_host=config.override_host,
        cert_host=config.cert_host,
        use_sni=config.use_sni,
        ca_certificates=config.ca_certificates,
        connect_timeout_ms=config.connect_timeout_ms,
        first_byte_timeout_ms=config.first_byte_timeout_ms,
        between_bytes_timeout_ms=config.between_bytes_timeout_ms,
        health=config.health,  # type: ignore[arg-type]  # checked by the manifest
    )


def dynamic_config(info: BackendInfo) -> BackendConfig:
    """A backend the app registered, as the upstream rules take one."""
    scheme = "https" if info.use_ssl else "http"
    host = f"[{info.host}]" if ":" in info.host else info.host
    return BackendConfig(
        name=info.name,
        url=f"{scheme}://{host}:{info.port}/",
        scheme=scheme,
        host=info.host,
        port=info.port,
        path_prefix=info.path_prefix,
        override_host=info.override_host,
        cert_host=info.cert_host,
        use_sni=info.use_sni,
        ca_certificates=info.ca_certificates,
        connect_timeout_ms=info.connect_timeout_ms,
        first_byte_timeout_ms=info.first_byte_timeout_ms,
        between_bytes_timeout_ms=info.between_bytes_timeout_ms,
    )


def answer(call: BackendCall) -> BackendResponse:
    """A backend call as the value the app gets (its body still to be read)."""
    return BackendResponse(
        status=call.status,
        version=call.version,
        headers=tuple(call.headers),
        body=call.body_stream(),
        backend=call.backend_name,
        length=call.length,
    )


class RequestScope:
    """One request on the loop: its backends, calls, notes and decision (see the module doc).

    It is the :class:`~compute_emu.runtime.send.CallScope` of its backend calls; ``app_host``
    (the app's host, set when the host is made) is bound around the app's cache hooks.
    """

    def __init__(
        self,
        services: Services,
        request_id: int,
        calls: Calls,
        start_soon: Callable[..., object],
        client_body: LoopBodyStream | None,
    ) -> None:
        self.services = services
        self.request_id = request_id
        self.calls = calls  # the loop calls the app's thread waits for (cancelled together)
        self._start_soon = start_soon  # the connection's task group
        self.client_body = client_body  # recorded while a handoff may still resend it
        self.bind_app: Callable[[], AbstractContextManager[object]] | None = None
        self.backends = services.backends  # this request's view, even across a reload
        self.dynamic: dict[str, BackendInfo] = {}
        self._dynamic_configs: dict[str, BackendConfig] = {}
        self._dynamic_ssl: dict[str, ssl.SSLContext] = {}
        self.backend_calls: list[BackendCall] = []
        self.pending_calls: list[PendingCall] = []
        self.notes: list[str] = []
        self.decision: Decision | None = None
        # set on the loop (lighter than asyncio.Event: a held connection keeps them)
        self.decided = LoopFlag()
        self.main_done = LoopFlag()  # main() returned
        self.main_error: BaseException | None = None  # what main() raised, once it returned

    # -- backends ------------------------------------------------------------------------
    def backend(self, name: str) -> BackendInfo | None:
        """A backend from fastly.toml, or one this request registered."""
        config = self.backends.get(name)
        return backend_info(config) if config is not None else self.dynamic.get(name)

    def register_backend(self, info: BackendInfo) -> bool:
        """Add a dynamic backend for this request (its TLS context made now, shared by the
        server's requests); False if the name is taken."""
        if self.backend(info.name) is not None:
            return False
        config = dynamic_config(info)
        if config.scheme == "https":
            context = self.services.dynamic_ssl_context(config.ca_certificates, config.use_sni)
            self._dynamic_ssl[info.name] = context
        self._dynamic_configs[info.name] = config
        self.dynamic[info.name] = info
        return True

    def _config(self, name: str) -> BackendConfig:
        config = self.backends.get(name) or self._dynamic_configs.get(name)
        if config is None:
            raise self.unknown_backend(name)
        return config

    def _ssl(self, config: BackendConfig) -> ssl.SSLContext | None:
        if config.name in self._dynamic_configs:
            return self._dynamic_ssl.get(config.name)
        return self.backends.ssl_context(config.name)

    # -- backend calls -------------------------------------------------------------------
    async def send(self, request: OutgoingRequest, backend: str) -> BackendResponse:
        """Send through the readthrough cache; the response once its head is in."""
        config = self._config(backend)
        self.notes.append(f"send→{backend}")
        note = len(self.notes) - 1  # the cache adds HIT/MISS/STALE/PASS to it
        call = await cached_send(self, config, request, self._ssl(config), note)
        self.backend_calls.append(call)
        return answer(call)

    async def start_pending(self, request: OutgoingRequest, backend: str) -> PendingCall:
        """Start sending in the connection's task group; collected with :meth:`collect`."""
        config = self._config(backend)
        self.notes.append(f"send_async→{backend}")
        note = len(self.notes) - 1
        fetch = functools.partial(cached_send, self, config, request, self._ssl(config), note)
        pending = PendingCall(fetch, backend)
        self.pending_calls.append(pending)
        self._start_soon(pending.run)
        return pending

    async def collect(self, pending: PendingCall) -> BackendResponse:
        """The response of a pending call (waits for its head); raises SendError."""
        call = await pending.result()
        self.backend_calls.append(call)
        return answer(call)

    async def select(self, pending: list[PendingCall]) -> int:
        """Index of the first pending call that is done (waits for one)."""
        return await first_done(pending)

    async def close(self) -> None:
        """Close backend connections the request left open (bodies never read to the end)."""
        for pending in self.pending_calls:
            await pending.aclose()
        for call in self.backend_calls:
            await call.aclose()
        self.backend_calls.clear()
        self.pending_calls.clear()

    # -- what backend calls need (CallScope) ---------------------------------------------
    def tag(self, note: int | None, word: str) -> None:
        """Add ``word`` to the log note ``note`` (the cache's HIT, MISS, STALE, PASS)."""
        if note is not None and note < len(self.notes):
            self.notes[note] = f"{self.notes[note]} {word}"

    async def run_hook(self, hook: Callable[[T], T], value: T) -> T:
        """Run an app hook on the app's worker pool, with the request's host bound and its
        prints going with the request."""

        def run() -> T:
            AppOutput.bind(self.services.log, self.request_id)
            try:
                assert self.bind_app is not None, "the app's host binds itself to its scope"
                with self.bind_app():
                    return hook(value)
            finally:
                AppOutput.bind(None)

        return await call_in_worker(self.services.workers, run, what="a cache hook")

    # -- the decision --------------------------------------------------------------------
    def decide(self, decision: Decision) -> None:
        """The app's decision (already checked on its thread); the first one stands (a later
        one can only race with the client leaving: nobody to answer then)."""
        if self.decision is None:
            self.decision = decision
            self.decided.set()

    def stream(self, response: OutgoingResponse) -> StreamingSink:
        """``stream_to_client``: decided, and the sink the app writes the rest of the body to."""
        sink = StreamingSink(self.calls)
        self.decide(Stream(response, sink))
        return sink

    def unknown_backend(self, name: str) -> SendError:
        """The error for a backend this request does not know (naming those it knows)."""
        known = ", ".join([*self.backends, *self.dynamic]) or "none"
        return SendError(
            name,
            SendErrorCause.UnknownBackend,
            f"no backend named {name!r} in {self.services.manifest_name} (known: {known})",
        )

    def original_body(self) -> tuple[bytes, LoopBodyStream | None]:
        """The client's body as it arrived: what the app already read, then the rest."""
        stream = self.client_body
        if stream is None:
            return b"", None
        return stream.take_recorded(), stream  # what follows is relayed, not kept

    def main_returned(self, error: BaseException | None) -> None:
        """``main()`` returned (or raised): that decides, if nothing did."""
        self.main_error = error
        if self.decision is None:
            self.decision = Failed(error) if error else Returned()
            self.decided.set()
        elif isinstance(self.decision, Stream) and not self.decision.sink.finished:
            self.decision.sink.close()  # an unfinished streaming body ends cleanly
        self.main_done.set()

    def client_left(self) -> None:
        """The client went away: nothing more to decide; the app's pending I/O is cancelled."""
        if self.decision is None:
            self.decision = ClientWentAway()
        self.calls.cancel_all()
        self.decided.set()
