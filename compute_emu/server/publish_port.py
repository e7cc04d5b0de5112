"""compute-emu's publish port: each request admitted by :mod:`.publish_admission` is passed on
to Pushpin's publish API on its private loopback port, through the upstream client.

Pushpin's own publish API listens on a port only compute-emu knows (chosen free at start);
compute-emu listens on the publish port developers use (5561 by default). Requests go on as
they came (method, target, headers without the hop-by-hop ones, body streamed), answers come
back as Pushpin gave them, and both sides keep their connections alive. Two things Pushpin's
API cannot take are dealt with here: a chunked body is collected and sent with its length
(Pushpin answers 411), and a body over Pushpin's limit (64 KiB) is answered with Pushpin's
own 400 (Pushpin's answer would be lost: it closes with the upload unread, and the reset
discards its response). Fastly's publish path, ``/service/<id>/publish/``, goes to Pushpin's
``/publish/``, without the API token (see :mod:`.publish_admission`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import anyio.abc

from ..aio.listener import Listener
from ..aio.transport import ProtocolStream
from ..log import RequestLog
from ..pushpin.config import MAX_PUBLISH_BODY
from ..rules.framing import (
    FRAMING,
    HOP_BY_HOP,
    body_headers,
    connection_tokens,
    end_to_end,
    header_value,
    strip_headers,
)
from ..upstream.client import (
    FailureKind,
    Origin,
    UpstreamClient,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)
from .admission import HostPolicy, Refusal
from .connection import Addresses, ClientGone, Connection, Exchange, Limits
from .framing import HttpDate, error_response_headers
from .publish_admission import (
    CREDENTIALS,
    AppOrigins,
    check_publish,
    cors_headers,
    is_preflight,
    preflight_headers,
    route_target,
)

HEAD_TIMEOUT = 30.0  # seconds Pushpin may take to answer a publish (then 504)
CONNECT_TIMEOUT = 5.0
TOO_LARGE = "Request body too large.\n"  # Pushpin's words for a body over its limit
# 100-continue is ours to answer; the API token stays here
_NOT_FORWARDED = HOP_BY_HOP | FRAMING | CREDENTIALS | {"expect"}


class PublishForwarder:
    """The request handler of the publish port (one per server).

    ``api_port()`` is Pushpin's private publish port (it may change when Pushpin restarts);
    ``app`` the app's own origins, whose pages may publish (None until the app port is bound);
    ``max_body`` Pushpin's limit on a publish body (a longer one is answered here).
    """

    def __init__(
        self,
        client: UpstreamClient,
        api_port: Callable[[], int],
        date: HttpDate,
        log: RequestLog,
        app: AppOrigins | None = None,
        max_body: int = MAX_PUBLISH_BODY,
    ) -> None:
        self.client = client
        self.max_body = max_body
        self.api_port = api_port
        self.date = date
        self.log = log
        self.app = app
        self._warned: set[str] = set()
        self._told_credentials = False

    async def __call__(self, exchange: Exchange) -> None:
        verdict = check_publish(exchange.headers, self.app)
        if isinstance(verdict, Refusal):
            self._log_refusal(exchange, verdict)
            await self._send_error(exchange, verdict.status, verdict.message)
            return
        if verdict.origin is not None and is_preflight(exchange.method, exchange.headers):
            headers = [*preflight_headers(verdict.origin, exchange.headers), ("date", self.date())]
            await exchange.send_response(204, headers)
            return
        target = route_target(exchange.target)
        if isinstance(target, Refusal):
            await self._send_error(exchange, target.status, target.message)
            return
        self._note_credentials(exchange.headers)
        declared = exchange.declared_length()
        body = None if (declared or 0) > self.max_body else await self._body(exchange, declared)
        if body is None:
            # Pushpin would answer this itself, but closes with the upload unread, and the
            # reset loses its answer: say what it says
            await self._send_error(exchange, 400, TOO_LARGE)
            return
        length = len(body) if isinstance(body, bytes) else declared
        port = self.api_port()
        request = UpstreamRequest(
            exchange.method,
            target,
            forward_headers(exchange.headers, exchange.method, port, length),
            body,
            head_timeout=HEAD_TIMEOUT,
        )
        origin = Origin("127.0.0.1", port, connect_timeout=CONNECT_TIMEOUT)
        try:
            response = await self.client.request(origin, request)
        except UpstreamError as exc:
            if exc.kind is FailureKind.BODY and isinstance(exc.__cause__, ClientGone):
                raise exc.__cause__ from None  # the client's body broke off (or stalled)
            status, text = _failure(exc, port)
            self.log.error(f"publish port: {text.strip()}")
            await self._send_error(exchange, status, text)
            return
        async with response:
            out = end_to_end(response.headers)
            answer_length = header_value(response.headers, "content-length")
            if answer_length is not None:
                out.append(("content-length", answer_length))
            if verdict.origin is not None:
                out += cors_headers(verdict.origin)
            try:
                answer = await _answer_body(response, answer_length)
                await exchange.send_response(response.status, out, answer)
            except UpstreamError:
                raise ClientGone from None  # Pushpin broke off its answer: so do we

    async def _body(
        self, exchange: Exchange, length: int | None
    ) -> bytes | AsyncIterator[bytes] | None:
        """The body to pass on (None: a chunked one over ``max_body``).

        With a Content-Length it is streamed as it arrives, unless it arrived whole with the
        head (then it goes on in one write, and is retryable on a stale pooled connection).
        A chunked one is collected: Pushpin's publish API requires a Content-Length.
        """
        if not exchange.has_body():
            return b""
        if length is None:
            collected = b""
            while chunk := await exchange.receive_body():
                collected += chunk
                if len(collected) > self.max_body:
                    return None
            return collected
        first = await exchange.receive_body()
        if len(first) >= length:
            return first
        return _stream(exchange, first)

    async def _send_error(self, exchange: Exchange, status: int, text: str) -> None:
        body = text.encode()
        await exchange.send_response(status, error_response_headers(len(body), self.date()), body)

    def _note_credentials(self, headers: list[tuple[str, bytes]]) -> None:
        """Say once that an API token came and was not checked."""
        if self._told_credentials or not any(n.lower() in CREDENTIALS for n, _ in headers):
            return
        self._told_credentials = True
        self.log.info(
            "publish port: an API token (Fastly-Key or Authorization) was sent; it is accepted "
            "and not checked locally (Fastly checks it in production)"
        )

    def _log_refusal(self, exchange: Exchange, refusal: Refusal) -> None:
        """A warning the first time a page (an origin) is refused, then debug lines."""
        origin = header_value(exchange.headers, "origin")
        key = (origin or b"").decode("latin-1") or refusal.message
        line = (
            f"publish port: refused {exchange.method} {exchange.target} "
            f"({refusal.message.splitlines()[0]})"
        )
        if key in self._warned:
            self.log.debug(line)
        else:
            self._warned.add(key)
            self.log.warning(line)


def forward_headers(
    headers: list[tuple[str, bytes]], method: str, api_port: int, length: int | None
) -> list[tuple[str, bytes]]:
    """The request's headers as they go to Pushpin: hop-by-hop ones, ``Expect`` and the API
    token dropped, the framing rebuilt (a Content-Length of ``length``), a Host added if it
    had none."""
    out = strip_headers(headers, _NOT_FORWARDED | connection_tokens(headers))
    out += body_headers(method, length or 0)
    if header_value(headers, "host") is None:  # HTTP/1.0 may omit it; HTTP/1.1 may not
        out.append(("host", f"127.0.0.1:{api_port}".encode()))
    return out


async def _answer_body(
    response: UpstreamResponse, length: bytes | None
) -> bytes | AsyncIterator[bytes]:
    """Pushpin's answer body: in one piece if it came whole in its first read (then the
    client gets head and body in one write), else streamed as it arrives."""
    first = await response.receive(HEAD_TIMEOUT)
    if length is not None and length.isdigit() and len(first) == int(length):
        await response.receive()  # its end, already in (no wait): the connection is released
        return first
    return _relay(response, first)


async def _relay(response: UpstreamResponse, first: bytes) -> AsyncIterator[bytes]:
    if first:
        yield first
    while chunk := await response.receive(HEAD_TIMEOUT):
        yield chunk


async def _stream(exchange: Exchange, first: bytes) -> AsyncIterator[bytes]:
    if first:
        yield first
    while chunk := await exchange.receive_body():
        yield chunk


def _failure(exc: UpstreamError, port: int) -> tuple[int, str]:
    where = f"Pushpin's publish API (127.0.0.1:{port})"
    if exc.kind.connecting:
        return 503, (
            f"{where} is not answering ({exc}): Pushpin may be restarting "
            "(compute-emu restarts it by itself); try again in a moment\n"
        )
    if exc.kind is FailureKind.RESPONSE_TIMEOUT:
        return 504, f"{where} did not answer within {HEAD_TIMEOUT:g} s\n"
    return 502, f"{where} failed: {exc}\n"


async def serve_publish_port(
    listener: Listener,
    forwarder: PublishForwarder,
    hosts: Callable[[], HostPolicy],
    limits: Limits,
) -> None:
    """Serve the publish port until cancelled (``hosts()``: the Host names served, as on the
    app port, read per connection so that fastly.toml changes apply)."""

    async def serve_connection(stream: ProtocolStream) -> None:
        client = stream.extra(anyio.abc.SocketAttribute.remote_address)
        addresses = Addresses(client=client[:2], server=listener.address)  # type: ignore[arg-type]
        await Connection(stream, addresses, forwarder, forwarder.date, limits, hosts()).serve()

    await listener.serve(serve_connection)
