"""An HTTP/1.1 client for backends: h11 over anyio streams, keep-alive pooling, timeouts.

Failures are raised as :class:`UpstreamError` carrying a :class:`SendErrorCause`, so the
runtime can turn them into the SDK's ``SendError`` with the backend name attached.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import select
import socket
import ssl
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import anyio.abc
import h11

from ..sdk._errors import SendErrorCause
from ..server.framing import raw_headers
from ..streams import pause_reading
from .target import UpstreamTarget

READ_SIZE = 64 * 1024
MAX_HEAD_BYTES = 100 * 1024
CONNECT_TIMEOUT = 10.0
MAX_IDLE_PER_KEY = 32


class UpstreamError(Exception):
    """A backend request failed; ``cause`` says how."""

    def __init__(self, cause: SendErrorCause, detail: str = "") -> None:
        super().__init__(f"{cause.name}: {detail}" if detail else cause.name)
        self.cause = cause
        self.detail = detail


def _connect_error(exc: BaseException) -> UpstreamError:
    """Map an exception raised while connecting to the closest SendErrorCause."""
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[0]
    if isinstance(cause, OSError):
        # anyio tried every address ("All connection attempts failed"): report the reason
        return _connect_error(cause)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return UpstreamError(SendErrorCause.TlsCertificateError, str(exc.verify_message or exc))
    if isinstance(exc, ssl.SSLError):
        return UpstreamError(SendErrorCause.TlsProtocolError, str(exc))
    if isinstance(exc, socket.gaierror):
        return UpstreamError(SendErrorCause.DnsError, str(exc))
    if isinstance(exc, TimeoutError):
        return UpstreamError(SendErrorCause.ConnectionTimeout, "connect timed out")
    if isinstance(exc, ConnectionRefusedError):
        return UpstreamError(SendErrorCause.ConnectionRefused, str(exc))
    if isinstance(exc, OSError):
        return UpstreamError(SendErrorCause.DestinationUnavailable, str(exc))
    return UpstreamError(SendErrorCause.InternalError, repr(exc))


class UpstreamConnection:
    """One HTTP/1.1 connection to a backend."""

    def __init__(self, stream: anyio.abc.ByteStream, key: tuple[object, ...]) -> None:
        self.stream = stream
        self.key = key
        self.reused = False  # True once it served a request before this one
        self._eof = False
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)

    async def _write(self, *events: h11.Event) -> None:
        data = b"".join(self._h11.send(event) or b"" for event in events)
        if data:
            try:
                await self.stream.send(data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                self._h11.send_failed()
                raise UpstreamError(SendErrorCause.ConnectionTerminated, str(exc)) from exc

    async def send_request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> None:
        """Write the request head and its whole body (in one write when it is in memory)."""
        head = h11.Request(method=method, target=target.encode(), headers=raw_headers(headers))
        if body is None or isinstance(body, bytes):
            data = [h11.Data(data=body)] if body else []
            await self._write(head, *data, h11.EndOfMessage())
            return
        await self._write(head)
        async for chunk in body:
            if chunk:
                await self._write(h11.Data(data=chunk))
        await self._write(h11.EndOfMessage())

    async def _next_event(self, timeout: float | None) -> h11.Event:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._eof:
                    raise UpstreamError(
                        SendErrorCause.HttpIncompleteResponse,
                        "the backend closed the connection before its response was complete",
                    ) from exc
                raise UpstreamError(SendErrorCause.HttpProtocolError, str(exc)) from exc
            if event is not h11.NEED_DATA:
                assert not isinstance(event, type)
                return event
            try:
                if timeout is None:
                    data = await self.stream.receive(READ_SIZE)
                else:
                    with anyio.fail_after(timeout):
                        data = await self.stream.receive(READ_SIZE)
            except TimeoutError:
                raise UpstreamError(
                    SendErrorCause.HttpResponseTimeout, "backend too slow"
                ) from None
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                data = b""
            except (anyio.BrokenResourceError, OSError) as exc:
                raise UpstreamError(SendErrorCause.ConnectionTerminated, str(exc)) from exc
            self._eof = not data
            self._h11.receive_data(data)

    async def receive_response(
        self, timeout: float | None
    ) -> h11.Response | h11.InformationalResponse:
        """The response head (a final one, or a 101); skips other 1xx."""
        while True:
            event = await self._next_event(timeout)
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return event
                continue
            if isinstance(event, h11.ConnectionClosed):
                raise UpstreamError(
                    SendErrorCause.HttpIncompleteResponse,
                    "backend closed the connection without sending a response",
                )
            raise UpstreamError(SendErrorCause.HttpProtocolError, f"unexpected {event!r}")

    async def receive_chunk(self, timeout: float | None) -> bytes:
        """Next response body chunk, ``b""`` at the end."""
        if self._h11.their_state is not h11.SEND_BODY:
            return b""
        event = await self._next_event(timeout)
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            return b""
        raise UpstreamError(SendErrorCause.HttpIncompleteResponse, "response body cut short")

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after a 101 head (they belong to the upgraded protocol)."""
        return bytes(self._h11.trailing_data[0])

    def reusable(self) -> bool:
        """True when both sides finished cleanly and the connection may serve another request."""
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            return True
        return False

    def looks_alive(self) -> bool:
        """An idle pooled connection must not be readable: data or EOF means it went stale."""
        sock = self.stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    async def aclose(self) -> None:
        """Close the socket (never raises)."""
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await self.stream.aclose()


@dataclass
class ConnectionPool:
    """Idle keep-alive connections per (host, port, tls, name)."""

    idle: dict[tuple[object, ...], list[UpstreamConnection]] = field(
        default_factory=lambda: defaultdict(list)
    )
    closed: bool = False

    async def connect(
        self, target: UpstreamTarget, ssl_context: ssl.SSLContext | None
    ) -> UpstreamConnection:
        """A pooled connection to ``target`` if a live one is idle, else a new one."""
        key = target.pool_key
        idle = self.idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.looks_alive():
                conn.reused = True
                return conn
            await conn.aclose()
        return await self.open(target, ssl_context)

    async def open(
        self, target: UpstreamTarget, ssl_context: ssl.SSLContext | None
    ) -> UpstreamConnection:
        """A new connection to ``target`` (not from the pool)."""
        key = target.pool_key
        try:
            with anyio.fail_after(target.connect_timeout or CONNECT_TIMEOUT):
                if target.tls:
                    stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                        target.host,
                        target.port,
                        ssl_context=ssl_context,
                        tls_hostname=target.server_hostname or target.host,
                        tls_standard_compatible=False,
                    )
                elif _is_ip_literal(target.host):
                    stream = await _connect_ip(target.host, target.port)
                else:
                    stream = await anyio.connect_tcp(target.host, target.port)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise _connect_error(exc) from exc
        return UpstreamConnection(stream, key)

    async def release(self, conn: UpstreamConnection) -> None:
        """Return a finished connection for reuse, or close it if it cannot be reused."""
        if not self.closed and conn.reusable():
            bucket = self.idle[conn.key]
            if len(bucket) < MAX_IDLE_PER_KEY:
                bucket.append(conn)
                return
        await conn.aclose()

    async def aclose(self) -> None:
        """Close every idle connection."""
        self.closed = True
        for bucket in self.idle.values():
            for conn in bucket:
                await conn.aclose()
        self.idle.clear()


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _connect_ip(host: str, port: int) -> anyio.abc.SocketStream:
    """Connect to an IP address without anyio's resolver thread and happy-eyeballs task
    group (about 0.5 ms per connection here; every Fanout handoff to 127.0.0.1 pays it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        stream = await anyio.abc.SocketStream.from_socket(sock)
        pause_reading(stream)
        return stream
    except BaseException:
        sock.close()
        raise


def make_ssl_context(
    ca_certificates: tuple[str, ...], use_sni: bool, client_cert: tuple[str, str] | None
) -> ssl.SSLContext:
    """A verifying TLS client context for one backend.

    ``client_cert`` is (certificate file, key file). With ``use_sni`` off no server name is
    sent, so the chain is verified but the name is not (Python cannot check one without SNI).
    """
    context = ssl.create_default_context()
    if ca_certificates:
        context.load_verify_locations(cadata="\n".join(ca_certificates))
    if client_cert is not None:
        context.load_cert_chain(*client_cert)
    if not use_sni:
        context.check_hostname = False
    return context
