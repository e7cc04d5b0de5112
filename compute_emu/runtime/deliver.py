"""Writing what the app decided to the client: its response, or an error page."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..aio.workers import WorkerPool
from ..rules.framing import end_to_end, header_value, manual_framing
from ..sdk._interface import OutgoingResponse
from ..server.connection import Exchange
from .bridge import body_length, iterate_body
from .streaming import StreamingSink


def error_status(error: BaseException) -> int:
    """The status for an exception that escaped ``main()``: 500, as when a Compute guest fails.

    A ``SendError`` too, whatever its cause: Viceroy answers 504/502 only for a backend
    response still pending when it is sent to the client, which the SDK has no call for.
    """
    return 500


async def send_text(
    exchange: Exchange,
    status: int,
    text: str,
    date: bytes,
    content_type: str | None = "text/plain; charset=utf-8",
) -> None:
    """A complete small response with a text body."""
    body = text.encode()
    headers = [("date", date), ("content-length", str(len(body)).encode())]
    if content_type:
        headers.insert(0, ("content-type", content_type.encode()))
    await exchange.send_response(status, headers, body)


async def deliver_response(
    exchange: Exchange,
    response: OutgoingResponse,
    date: bytes,
    workers: WorkerPool,
    stream: StreamingSink | None = None,
) -> None:
    """Write the app's response: framing rebuilt, body streamed as it is read (and, for
    ``stream_to_client``, followed by what the app writes until it finishes); a body stream
    the app made itself is read on ``workers``."""
    status = response.status
    if status < 200:
        await send_text(
            exchange,
            500,
            f"the app sent an informational status ({status}) as its response\n",
            date,
        )
        return
    headers = end_to_end(list(response.headers))
    prefix, body = response.body.prefix, response.body.stream
    length = body_length(prefix, body)
    manual = None
    if response.framing_from_headers:
        manual = manual_framing(response.headers, None if stream is not None else length)
    if manual is not None:
        headers.append(manual)
    elif length is not None and status != 204 and stream is None:
        headers.append(("content-length", str(length).encode()))
    if not response.keepalive:
        headers.append(("connection", b"close"))
    if header_value(headers, "date") is None:
        headers.append(("date", date))
    if stream is None and body is None:  # all in memory: head and body in one write
        await exchange.send_response(status, headers, prefix)
    elif stream is None:
        await exchange.send_response(status, headers, iterate_body(prefix, body, workers))
    else:
        chunks = _then(iterate_body(prefix, body, workers), stream)
        await exchange.send_response(status, headers, chunks)


async def _then(first: AsyncIterator[bytes], stream: StreamingSink) -> AsyncIterator[bytes]:
    async for chunk in first:
        yield chunk
    async for chunk in stream.chunks():
        yield chunk
