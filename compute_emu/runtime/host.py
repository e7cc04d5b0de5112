"""The per-request host: what SDK calls do, and what the app decided.

An app decides exactly one thing about its client: a response (``send_to_client``), a
handoff (``handoff_fanout``/``handoff_websocket``), or nothing (it returns, or raises). The
host records that :class:`Outcome` and wakes the connection task, which carries it out while
the app's thread goes on (as a Compute instance does after ``send_downstream``).
"""

from __future__ import annotations

import functools
import ipaddress
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..manifest import BackendConfig
from ..rules.framing import header_value
from ..sdk._body import Body
from ..sdk._errors import SendError, SendErrorCause
from ..sdk._host import ClientRequestParts, HandoffKind
from ..sdk._request import Request
from ..sdk._response import Response
from .bridge import HANDOFF_REPLAY_LIMIT, Calls, LoopBodyStream, LoopFlag
from .pending import PendingCall, first_done
from .readthrough import cached_send
from .send import BackendCall
from .streaming import StreamingSink

T = TypeVar("T")

if TYPE_CHECKING:
    from ..platform import Platform
    from ..server.connection import Exchange
    from .services import Backends, Services


@dataclass
class Outcome:
    """What the app decided for its client (exactly one of the fields is set)."""

    response: Response | None = None
    stream: StreamingSink | None = None  # with response: stream_to_client()
    handoff: tuple[Request, str, HandoffKind] | None = None
    error: BaseException | None = None  # main() raised before deciding
    nothing: bool = False  # main() returned without deciding
    client_left: bool = False  # the client went away before the app decided


@functools.lru_cache(maxsize=64)  # one or two addresses per server
def _server_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:  # not an IP socket
        return None


@dataclass
class RequestHost:
    """Implements :class:`compute_emu.sdk._host.Host` for one client request."""

    services: Services
    exchange: Exchange
    request_id: int
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    outcome: Outcome | None = None
    # set on the loop thread (lighter than asyncio.Event: a held connection keeps them)
    decided: LoopFlag = field(default_factory=LoopFlag)
    main_done: LoopFlag = field(default_factory=LoopFlag)  # main() returned
    calls: Calls = field(init=False)  # the loop calls the app's thread waits for
    backends: Backends = field(init=False)  # fastly.toml's backends when the request came
    backend_calls: list[BackendCall] = field(default_factory=list)
    pending_calls: list[PendingCall] = field(default_factory=list)
    dynamic_backends: dict[str, BackendConfig] = field(default_factory=dict)
    _dynamic_ssl: dict[str, ssl.SSLContext] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    main_error: BaseException | None = None  # what main() raised, once it returned
    _client_taken: bool = False
    _client_body: LoopBodyStream | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.calls = Calls(self.services.loop)
        self.backends = self.services.backends  # this request's view, even across a reload

    @property
    def trace_id(self) -> str:
        """``FASTLY_TRACE_ID`` of this request: 32 hex digits, different for each request."""
        return f"{self.request_id:032x}"

    # -- the SDK's Host protocol (called from the app's thread) ----------------------------
    def take_client_request(self) -> ClientRequestParts:
        with self._lock:
            if self._client_taken:
                raise RuntimeError("Request.from_client() can only be called once per request")
            self._client_taken = True
        exchange = self.exchange
        host = header_value(exchange.headers, "host")
        authority = host.decode("latin-1") if host else "{}:{}".format(*exchange.addresses.server)
        return ClientRequestParts(
            method=exchange.method,
            url=f"http://{authority}{exchange.target}",
            version=exchange.http_version,
            headers=list(exchange.headers),
            body=self.client_body(),
            client_ip=self.client_ip,
            request_id=self.trace_id,
            server_ip=_server_ip(exchange.addresses.server[0]),
        )

    def client_body(self) -> LoopBodyStream | None:
        """The client's request body (one stream per request, recorded for handoffs)."""
        if self._client_body is None and self.exchange.has_body():
            self._client_body = LoopBodyStream(
                self.calls,
                self.exchange.receive_body,
                self.exchange.declared_length(),
                record=True,
            )
        return self._client_body

    def original_body(self) -> tuple[bytes, LoopBodyStream | None]:
        """The client's body as it arrived: what the app already read, then the rest."""
        stream = self.client_body()
        if stream is None:
            return b"", None
        return stream.take_recorded(), stream  # what follows is relayed, not kept

    # -- backends ------------------------------------------------------------------------
    @property
    def platform(self) -> Platform:
        return self.services.platform

    def backend_config(self, name: str) -> BackendConfig | None:
        """A backend from fastly.toml, or one this request registered (dynamic backends)."""
        return self.backends.get(name) or self.dynamic_backends.get(name)

    def register_backend(self, config: BackendConfig) -> bool:
        """Add a dynamic backend for this request; False if the name is taken."""
        context = None
        if config.scheme == "https":
            context = self.services.dynamic_ssl_context(config.ca_certificates, config.use_sni)
        with self._lock:
            if self.backend_config(config.name) is not None:
                return False
            self.dynamic_backends[config.name] = config
            if context is not None:
                self._dynamic_ssl[config.name] = context
        return True

    def _config(self, name: str) -> BackendConfig:
        config = self.backend_config(name)
        if config is None:
            raise self._unknown_backend(name)
        return config

    def _ssl(self, config: BackendConfig) -> ssl.SSLContext | None:
        if config.name in self.dynamic_backends:
            return self._dynamic_ssl.get(config.name)
        return self.backends.ssl_context(config.name)

    def _response(self, call: BackendCall, request: Request) -> Response:
        body = Body.from_stream(call.body_stream())
        return Response._from_backend(call.status, call.headers, body, call.backend.name, request)

    def send(self, request: Request, backend: str) -> Response:
        call = self.calls.run(self._send, request, backend)
        return self._response(call, request)

    async def _send(self, request: Request, backend_name: str) -> BackendCall:
        config = self._config(backend_name)
        self.notes.append(f"send→{backend_name}")
        note = len(self.notes) - 1  # the cache adds HIT/MISS/STALE/PASS to it
        call = await cached_send(self, config, request, self._ssl(config), note)
        self.backend_calls.append(call)
        return call

    def send_async(self, request: Request, backend: str) -> PendingCall:
        """Start sending; the result is collected with ``wait_pending``/``select``."""
        return self.calls.run(self._start_pending, request, backend)

    async def _start_pending(self, request: Request, backend_name: str) -> PendingCall:
        config = self._config(backend_name)
        self.notes.append(f"send_async→{backend_name}")
        pending = PendingCall(self, config, request, self._ssl(config), len(self.notes) - 1)
        self.pending_calls.append(pending)
        self.exchange.start_soon(pending.run)
        return pending

    def wait_pending(self, pending: PendingCall) -> Response:
        """The response of a pending request (waits for its head); raises SendError."""
        call = self.calls.run(self._collect, pending)
        return self._response(call, pending.request)

    async def _collect(self, pending: PendingCall) -> BackendCall:
        call = await pending.result()
        self.backend_calls.append(call)
        return call

    def select(self, pending: list[PendingCall]) -> int:
        """Index of the first pending request that is done (waits for one)."""
        return self.calls.run(first_done, pending)

    # -- the client ------------------------------------------------------------------------
    def send_to_client(self, response: Response) -> None:
        if (status := response.get_status()) < 200:  # as Viceroy: 103 dropped, other 1xx invalid
            if status != 103:
                raise ValueError(f"cannot send an informational status ({status}) to the client")
            self.services.log.warning(
                f"#{self.request_id} the app sent an informational response (103) which is "
                "not sent to the client (as in Viceroy); its real response follows"
            )
            return
        self._decide(Outcome(response=response), "send a response")

    def stream_to_client(self, response: Response) -> StreamingSink:
        sink = self.calls.call(StreamingSink, self.calls)
        self._decide(Outcome(response=response, stream=sink), "stream a response")
        return sink

    def handoff(self, request: Request, backend: str, kind: HandoffKind) -> None:
        if backend not in self.backends and kind == "websocket":
            raise self._unknown_backend(backend)
        if backend not in self.backends:  # Viceroy does not check: Pushpin answers 502
            self.services.log.warning(
                f"#{self.request_id} handoff_fanout(): {backend!r} is not a backend in "
                f"{self.services.manifest_name}, so Pushpin has no route for it (it answers 502)"
            )
        body = self._client_body
        if body is not None and body.replay_lost:
            raise SendError(
                backend,
                SendErrorCause.InternalError,
                f"cannot hand off: main() already read more than {HANDOFF_REPLAY_LIMIT} bytes "
                "of the request body (hand off before reading a large body)",
            )
        if kind == "fanout" and self.services.fanout_proxy_port is None:
            raise SendError(
                backend,
                SendErrorCause.InternalError,
                "Fanout is not enabled for local testing: set `enable = true` under "
                f"[local_server.pushpin] in {self.services.manifest_name}, or pass "
                "--experimental-enable-pushpin to `compute-emu serve`",
            )
        self._decide(Outcome(handoff=(request, backend, kind)), f"hand off to {kind}")

    def cache_run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``func(cache_store, *args)`` on the loop (the cache SDK modules use it)."""
        return self.calls.run(func, self.services.cache, *args)

    def log_write(self, endpoint: str, line: str) -> None:
        """One line to a log endpoint, shown as ``NAME :: line`` with its request."""
        self.services.log.app_output(self.request_id, f"{endpoint} :: {line}")

    def _unknown_backend(self, name: str) -> SendError:
        known = ", ".join([*self.backends, *self.dynamic_backends]) or "none"
        return SendError(
            name,
            SendErrorCause.UnknownBackend,
            f"no backend named {name!r} in {self.services.manifest_name} (known: {known})",
        )

    # -- decisions -------------------------------------------------------------------------
    def _decide(self, outcome: Outcome, what: str) -> None:
        with self._lock:
            if self.outcome is not None and self.outcome.client_left:
                return  # nobody to answer any more; the app's I/O calls fail instead
            if self.outcome is not None:
                previous = (
                    "a response was already sent"
                    if self.outcome.response
                    else ("the request was already handed off")
                )
                raise RuntimeError(f"cannot {what}: {previous} for this request")
            self.outcome = outcome
            if outcome.handoff is None and self._client_body is not None:
                self._client_body.stop_recording()  # no handoff can follow an answer
        self.calls.notify(self.decided.set)

    def main_returned(self, error: BaseException | None) -> None:
        """Called on the loop when main() has returned (or raised)."""
        self.main_error = error
        with self._lock:
            if self.outcome is None:
                self.outcome = Outcome(error=error) if error else Outcome(nothing=True)
                self.decided.set()
            elif self.outcome.stream is not None and not self.outcome.stream.finished:
                self.outcome.stream.close()  # an unfinished streaming body ends cleanly
        self.main_done.set()

    def client_left(self) -> None:
        """The client went away before the app decided: cancel the app's pending I/O."""
        with self._lock:
            if self.outcome is None:
                self.outcome = Outcome(client_left=True)
        self.calls.cancel_all()
        self.decided.set()

    async def close_backend_calls(self) -> None:
        """Close backend connections the request left open (bodies never read to the end)."""
        for pending in self.pending_calls:
            await pending.aclose()
        for call in self.backend_calls:
            await call.aclose()
        self.backend_calls.clear()
        self.pending_calls.clear()
