"""Carrying out a handoff: relay the client's request to Pushpin (or straight to a WebSocket
backend), relay the response as it arrives, and splice both sockets after a ``101``."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import h11

from ..sdk._errors import SendErrorCause
from ..sdk._host import HandoffKind
from ..sdk._request import Request
from ..server.connection import ClientGone, Exchange
from ..server.framing import end_to_end, header_value
from ..upstream.client import ConnectionPool, UpstreamConnection, UpstreamError
from ..upstream.handoff import HandoffTarget, fanout_target, websocket_target
from ..upstream.splice import splice
from ..upstream.target import UpstreamTarget
from .bridge import LoopBodyStream, iterate_body
from .deliver import send_text

T = TypeVar("T")
QUICK_ANSWER = 0.05  # seconds: a response head later than this is watched for a client leaving
_STALE = (SendErrorCause.ConnectionTerminated, SendErrorCause.HttpIncompleteResponse)

if TYPE_CHECKING:
    from .host import RequestHost


def handoff_target(
    host: RequestHost, request: Request, backend: str, kind: HandoffKind
) -> HandoffTarget:
    """Where the handoff of ``request`` goes, by Viceroy's rules."""
    exchange = host.exchange
    app_headers = request._headers.items()
    url = request.get_url_str()
    method = request.get_method()
    if kind == "fanout":
        port = host.services.fanout_proxy_port
        assert port is not None, "checked when the app asked for the handoff"
        return fanout_target(port, backend, method, url, exchange.headers, app_headers)
    config = host.services.backends[backend]
    return websocket_target(config, method, url, exchange.headers, app_headers)


async def relay_handoff(
    host: RequestHost, request: Request, backend: str, kind: HandoffKind
) -> None:
    """Send the handed-off request on and relay what comes back, until either side closes."""
    services, exchange = host.services, host.exchange
    target = handoff_target(host, request, backend, kind)
    label = f"Pushpin [{backend}]" if kind == "fanout" else f"backend {backend} ({target.label})"
    host.notes.append(f"{kind}→{backend}")
    services.log.debug(
        f"#{host.request_id} {kind} handoff to {label}: {target.method} {target.request_target}"
    )
    date = services.date()
    # The client's original body, framed by its own (protected) Content-Length or
    # Transfer-Encoding, which the handoff request carries.
    prefix, stream = host.original_body()
    ssl_context = services.ssl_context(backend) if target.tls else None
    try:
        conn, head = await _send(
            exchange, services.pool, target.connection, ssl_context, target, prefix, stream
        )
    except _Refused as refused:
        await send_text(exchange, refused.status, refused.text, date)
        return
    try:
        services.log.debug(
            f"#{host.request_id} handoff target '{label}' responded with {head.status_code}"
        )
        response_headers = [(n.decode("latin-1"), v) for n, v in head.headers.raw_items()]
        if head.status_code == 101:
            client_stream, client_pending = await exchange.switch_protocols(response_headers)
            _to_upstream, to_client = await splice(
                client_stream, conn.stream, client_pending, conn.trailing_data
            )
            exchange.response_bytes = to_client
            return
        await _relay_response(exchange, conn, head.status_code, response_headers)
    except BaseException:
        await conn.aclose()
        raise
    await services.pool.release(conn)  # kept alive only if both sides finished cleanly


class _Refused(Exception):
    """The handoff could not be made; Viceroy's status and text for the client."""

    def __init__(self, status: int, text: str) -> None:
        self.status, self.text = status, text


async def _send(
    exchange: Exchange,
    pool: ConnectionPool,
    target: UpstreamTarget,
    ssl_context: ssl.SSLContext | None,
    handoff: HandoffTarget,
    prefix: bytes,
    stream: LoopBodyStream | None,
) -> tuple[UpstreamConnection, h11.Response | h11.InformationalResponse]:
    """Open (or reuse) a connection, send the request, wait for the response head (a
    long-poll can wait a long time: a client that hangs up meanwhile ends the wait)."""
    for attempt in (1, 2):
        try:
            conn = await pool.connect(target, ssl_context)
        except UpstreamError as exc:
            text = f"Error: Could not connect to handoff target: {exc.detail}.\n"
            raise _Refused(500, text) from None
        body = iterate_body(prefix, stream) if stream is not None else None
        try:
            await conn.send_request(handoff.method, handoff.request_target, handoff.headers, body)
            with anyio.move_on_after(QUICK_ANSWER):  # most answers come at once...
                return conn, await conn.receive_response(None)
            # ...a held one (long-poll) may take minutes: watch the client meanwhile
            return conn, await _unless_client_leaves(exchange, conn.receive_response, None)
        except ClientGone:
            await conn.aclose()
            raise
        except UpstreamError as exc:
            await conn.aclose()
            if attempt == 1 and conn.reused and stream is None and exc.cause in _STALE:
                continue  # a kept-alive connection closed meanwhile: once more on a new one
            text = f"Error: Handoff request failed: {exc.detail or exc}\n"
            raise _Refused(502, text) from None
    raise AssertionError("unreachable")


async def _relay_response(
    exchange: Exchange,
    conn: UpstreamConnection,
    status: int,
    headers: list[tuple[str, bytes]],
) -> None:
    """Stream a (possibly hours-long) response to the client; stop when the client leaves."""
    out = end_to_end(headers)
    length = header_value(headers, "content-length")
    if length is not None:
        out.append(("content-length", length))

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await conn.receive_chunk(None):
            yield chunk

    try:
        if length is not None:  # a complete response, coming now
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
