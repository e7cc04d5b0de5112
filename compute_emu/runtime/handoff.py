"""Carrying out a handoff: relay the client's request to Pushpin (or straight to a WebSocket
backend), relay the response as it arrives, and splice both sockets after a ``101``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ..log import RequestRecord
from ..rules.backend import Destination, OutgoingRequest, backend_destination
from ..rules.framing import Framing, end_to_end, header_value
from ..rules.handoff import fanout_request, websocket_request
from ..rules.ws_frames import FrameCounter
from ..sdk._interface import HandoffKind
from ..sdk._interface import OutgoingRequest as AppRequest
from ..server.connection import ClientGone, Exchange
from ..upstream.client import (
    FailureKind,
    Origin,
    UpstreamClient,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)
from ..upstream.relay import relay_chunked, splice
from .bridge import iterate_body
from .decision import Handoff
from .deliver import send_text

T = TypeVar("T")
QUICK_ANSWER = 0.05  # seconds: a response head later than this is watched for a client leaving
PROBE_TIMEOUT = 0.5  # seconds a backend gets to accept the probe that explains Pushpin's 502
SMALL_BODY = 64 * 1024  # a relayed body of at most this many bytes goes out with its head

if TYPE_CHECKING:
    from .scope import RequestScope
    from .services import Backends


def handoff_target(
    fanout_port: int | None,
    backends: Backends,
    client_headers: list[tuple[str, bytes]],
    client_framing: Framing,
    request: AppRequest,
    backend: str,
    kind: HandoffKind,
) -> OutgoingRequest:
    """Where the handoff of ``request`` goes and what it says, by Viceroy's rules (the client
    body goes on as ``client_framing``, the parser's decision)."""
    app_headers = list(request.headers)
    url, method = request.url, request.method
    if kind == "fanout":
        assert fanout_port is not None, "checked when the app asked for the handoff"
        return fanout_request(
            fanout_port, backend, method, url, client_headers, app_headers, client_framing
        )
    return websocket_request(
        backends[backend], method, url, client_headers, app_headers, client_framing
    )


async def relay_handoff(
    exchange: Exchange,
    scope: RequestScope,
    handoff: Handoff,
    record: RequestRecord | None = None,
) -> None:
    """Send the handed-off request on and relay what comes back, until either side closes
    (``record``: the request's log line, told when a long-lived answer opens)."""
    services, backend, kind = scope.services, handoff.backend, handoff.kind
    target = handoff_target(
        services.fanout_proxy_port,
        scope.backends,
        exchange.headers,
        exchange.framing,
        handoff.request,
        backend,
        kind,
    )
    destination = target.destination
    label = (
        f"Pushpin [{backend}]" if kind == "fanout" else f"backend {backend} ({destination.label})"
    )
    scope.notes.append(f"{kind}→{backend}")
    if record is not None:
        services.log.handed_off(record, kind, backend)
    services.log.debug(
        f"#{scope.request_id} {kind} handoff to {label}: {target.method} {target.target}"
    )
    date = services.date()
    # The client's original body, framed by its own (protected) Content-Length or
    # Transfer-Encoding, which the handoff request carries.
    prefix, stream = scope.original_body()
    ssl_context = scope.backends.ssl_context(backend) if destination.tls else None
    upstream = UpstreamRequest(
        target.method,
        target.target,
        target.headers,
        prefix if stream is None else iterate_body(prefix, stream, services.workers),
    )
    try:
        response = await _send(
            exchange, services.pool, Origin.of(destination, ssl_context), upstream
        )
    except _Refused as refused:
        services.log.warning(
            f"#{scope.request_id} {kind} handoff to {label}: {refused.text.strip()}"
        )
        await send_text(exchange, refused.status, refused.text, date)
        return
    try:
        services.log.debug(
            f"#{scope.request_id} handoff target '{label}' responded with {response.status}"
        )
        services.log.headers(scope.request_id, "<", response.headers)
        if response.status == 101:
            upstream_stream, upstream_pending = response.upgrade()
            try:
                client_stream, client_pending = await exchange.switch_protocols(response.headers)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await upstream_stream.aclose()
                raise
            inspector = None
            counters = (FrameCounter(), FrameCounter())  # messages for the close line
            if services.log.inspect_ws:
                # wsproto (and h11) only for --inspect-ws: every serve would pay ~30 ms for them
                from ..inspect_ws import WsInspector

                extensions = header_value(response.headers, "sec-websocket-extensions")
                inspector = WsInspector(
                    services.log,
                    scope.request_id,
                    extensions.decode("latin-1") if extensions else None,
                )
            if record is not None:
                services.log.opened(record, f"WebSocket handed off to {label}", 101)
            response.headers = []  # held for hours from here: keep only what the relay needs
            try:
                to_upstream, to_client = await splice(
                    client_stream,
                    upstream_stream,
                    client_pending,
                    upstream_pending,
                    inspector,
                    counters,
                )
            finally:
                if record is not None and inspector is not None:
                    record.messages = inspector.messages
                elif record is not None and not (counters[0].broken or counters[1].broken):
                    record.messages = counters[0].messages, counters[1].messages
            exchange.response_bytes = to_client
            if record is not None:
                record.bytes_received = to_upstream
            return
        if record is not None and header_value(response.headers, "content-length") is None:
            services.log.opened(record, f"stream from {label}", response.status)
        if _held_chunked(response.headers):
            await _relay_held_body(exchange, response)
        else:
            await _relay_response(exchange, response, response.status, response.headers)
        if kind == "fanout" and response.status == 502 and record is not None:
            # Pushpin could not reach the backend (or the backend answered 502): say why
            origin = backend_destination(scope.backends[backend])
            record.error = await _unreachable(services.pool, backend, origin) or record.error
    finally:
        await response.aclose()  # pooled already if both sides finished cleanly


async def _unreachable(
    client: UpstreamClient, backend: str, destination: Destination
) -> str | None:
    """Why ``backend`` cannot be connected to (a TCP probe of its address), for the log line
    of a handoff Pushpin answered with 502; None if it accepts a connection."""
    origin = Origin(destination.host, destination.port, connect_timeout=PROBE_TIMEOUT)
    error = await client.unreachable(origin)
    return None if error is None else unreachable_reason(backend, destination.label, error)


def unreachable_reason(backend: str, address: str, error: UpstreamError) -> str:
    """``backend origin (127.0.0.1:3001) refused the connection: is it running?`` and the
    like, for a failed connect to ``address``."""
    where = f"backend {backend} ({address})"
    if error.kind is FailureKind.CONNECT_REFUSED:
        return f"{where} refused the connection: is it running?"
    if error.kind is FailureKind.CONNECT_TIMEOUT:
        return (
            f"{where} did not accept a connection within {PROBE_TIMEOUT:g} s: is the address "
            "right (and nothing in the way)?"
        )
    if error.kind is FailureKind.DNS:
        return f"{where}: its host name does not resolve ({error.detail})"
    return f"{where} cannot be reached: {error}"


class _Refused(Exception):
    """The handoff could not be made; Viceroy's status and text for the client."""

    def __init__(self, status: int, text: str) -> None:
        self.status, self.text = status, text


async def _send(
    exchange: Exchange, client: UpstreamClient, origin: Origin, request: UpstreamRequest
) -> UpstreamResponse:
    """Send the request and wait for the response head (a long-poll can wait a long time:
    a client that hangs up meanwhile ends the wait)."""

    async def wait_head(receive_head: Callable[[], Awaitable[T]]) -> T:
        with anyio.move_on_after(QUICK_ANSWER):  # most answers come at once...
            return await receive_head()
        # ...a held one (long-poll) may take minutes: watch the client meanwhile
        return await _unless_client_leaves(exchange, receive_head)

    try:
        return await client.request(origin, request, wait_head=wait_head)
    except UpstreamError as exc:
        if exc.kind is FailureKind.BODY:
            raise ClientGone from None  # the client's body broke off: the client left
        if exc.kind.connecting:
            text = f"Error: Could not connect to handoff target: {exc.detail}.\n"
            raise _Refused(500, text) from None
        raise _Refused(502, f"Error: Handoff request failed: {exc.detail or exc}\n") from None


def _held_chunked(headers: list[tuple[str, bytes]]) -> bool:
    """A chunked body of unknown length: a held stream, relayed raw at transport level."""
    coding = header_value(headers, "transfer-encoding")
    return coding is not None and coding.strip().lower() == b"chunked"


async def _relay_held_body(exchange: Exchange, response: UpstreamResponse) -> None:
    """Pushpin's chunked bytes go to the client as they are (both speak HTTP/1.1 chunked):
    no parsing beyond chunk sizes, no task, no copy (compute_emu/aio/relay.py). A client
    that cannot take chunked (HTTP/1.0) or a HEAD goes through :func:`_relay_response`."""
    given = await exchange.start_relayed_body(response.status, end_to_end(response.headers))
    if given is None:
        await _relay_response(exchange, response, response.status, response.headers)
        return
    client_stream, _pipelined = given  # anything pipelined behind a held stream is dropped
    upstream_stream, pending = response.detach()
    response.headers = []  # held for hours from here: keep only what the relay needs
    try:
        result = await relay_chunked(upstream_stream, client_stream, pending)
        exchange.response_bytes = result.body_bytes
    finally:
        with anyio.CancelScope(shield=True):
            await upstream_stream.aclose()  # never pooled: its parser is mid-body
            await client_stream.aclose()


async def _relay_response(
    exchange: Exchange,
    response: UpstreamResponse,
    status: int,
    headers: list[tuple[str, bytes]],
) -> None:
    """Stream a (possibly hours-long) response to the client; stop when the client leaves."""
    out = end_to_end(headers)
    length = header_value(headers, "content-length")
    if length is not None:
        out.append(("content-length", length))

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await response.receive():
            yield chunk

    try:
        if length is not None and length.isdigit() and int(length) <= SMALL_BODY:
            # a short answer goes out in one write, head and body (one wake-up of the client)
            body = b"".join([chunk async for chunk in chunks()])
            await exchange.send_response(status, out, body)
        elif length is not None:  # a complete response, coming now
            await exchange.send_response(status, out, chunks())
        else:  # a stream that may stay open for hours: watch the client meanwhile
            await _unless_client_leaves(exchange, exchange.send_response, status, out, chunks())
    except UpstreamError:
        raise ClientGone from None  # Pushpin cut the stream: end the client's too


async def _unless_client_leaves(
    exchange: Exchange, func: Callable[..., Awaitable[T]], *args: Any
) -> T:
    """``await func(*args)``, cancelled with ``ClientGone`` if the client hangs up first."""
    outcome: list[T] = []
    failure: list[BaseException] = []
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            await exchange.wait_client_closed()
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        try:
            outcome.append(await func(*args))
        except Exception as exc:  # re-raised below, outside the task group
            failure.append(exc)
        tg.cancel_scope.cancel()
    if failure:
        raise failure[0]
    if not outcome:
        raise ClientGone
    return outcome[0]
