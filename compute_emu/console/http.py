"""The console's HTTP side: the page and its two files, JSON answers, the event stream.

Every answer says ``Cache-Control: no-store`` and carries a Content-Security-Policy that
allows nothing but the console's own files (no inline script, no framing by other pages) and
``Referrer-Policy: no-referrer`` (links may carry the token).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import anyio

from ..server.admission import Refusal
from ..server.exchange import Exchange
from .admission import PREFIX, ConsoleRequest, check_console
from .api import route
from .errors import ConsoleError

if TYPE_CHECKING:
    from .state import ConsoleState

MAX_BODY = 2 * 1024 * 1024  # bytes of a JSON request body (a KV value written from the form)
KEEPALIVE = 15.0  # seconds between comments on an idle event stream
TOKEN_PLACEHOLDER = "__CONSOLE_TOKEN__"
CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    b"img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ERROR_PAGE_CSP = b"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"


def content_type(name: str) -> bytes:
    """The Content-Type of one of the page's files."""
    kind = {"html": b"text/html", "js": b"text/javascript", "css": b"text/css"}
    return kind[name.rpartition(".")[2]] + b"; charset=utf-8"


@cache
def static_file(name: str) -> bytes:
    """A file of the page (package data, read once)."""
    return (resources.files(__package__) / "static" / name).read_bytes()


def _headers(
    kind: bytes, length: int | None, date: bytes, csp: bytes = CSP
) -> list[tuple[str, bytes]]:
    headers = [
        ("content-type", kind),
        ("cache-control", b"no-store"),
        ("content-security-policy", csp),
        ("x-content-type-options", b"nosniff"),
        ("x-frame-options", b"DENY" if csp is CSP else b"SAMEORIGIN"),
        ("referrer-policy", b"no-referrer"),
        ("date", date),
    ]
    if length is not None:
        headers.append(("content-length", str(length).encode()))
    return headers


async def _send(
    exchange: Exchange,
    console: ConsoleState,
    status: int,
    kind: bytes,
    body: bytes,
    csp: bytes = CSP,
) -> None:
    date = console.services.date()
    await exchange.send_response(status, _headers(kind, len(body), date, csp), body)


async def send_json(exchange: Exchange, console: ConsoleState, status: int, data: Any) -> None:
    """A JSON answer."""
    body = json.dumps(data, ensure_ascii=False).encode() + b"\n"
    await _send(exchange, console, status, b"application/json", body)


async def _read_json(exchange: Exchange) -> dict[str, Any]:
    body = b""
    while chunk := await exchange.receive_body():
        body += chunk
        if len(body) > MAX_BODY:
            raise ConsoleError(413, f"the request body is over {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise ConsoleError(400, f"the request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConsoleError(400, "the request body must be a JSON object")
    return data


async def answer(console: ConsoleState, exchange: Exchange) -> None:
    """Answer one request for a console path."""
    decision = check_console(
        exchange.method,
        exchange.target,
        exchange.headers,
        exchange.addresses.client[0],
        console.token,
    )
    if isinstance(decision, Refusal):
        await _send(
            exchange,
            console,
            decision.status,
            b"text/plain; charset=utf-8",
            decision.message.encode(),
        )
        return
    if decision.kind == "redirect":
        headers = _headers(b"text/plain; charset=utf-8", 0, console.services.date())
        headers.append(("location", f"{PREFIX}/".encode()))
        await exchange.send_response(308, headers, b"")
        return
    if decision.kind in ("page", "asset"):
        name = decision.name or "index.html"
        body = static_file(name)
        if name == "index.html":
            body = body.replace(TOKEN_PLACEHOLDER.encode(), console.token.encode())
        await _send(exchange, console, 200, content_type(name), body)
        return
    try:
        await _api(console, exchange, decision)
    except ConsoleError as exc:
        await send_json(exchange, console, exc.status, {"error": str(exc)})


async def _api(console: ConsoleState, exchange: Exchange, request: ConsoleRequest) -> None:
    if request.name == "events" and exchange.method == "GET":
        await stream_events(console, exchange)
        return
    if request.name == "error-page" and exchange.method == "GET":
        request_id = request.arg("id") or ""
        page = console.feed.error_page(int(request_id)) if request_id.isdigit() else None
        if page is None:
            raise ConsoleError(404, f"no error page kept for request {request_id!r}")
        await _send(
            exchange, console, 200, b"text/html; charset=utf-8", page.encode(), ERROR_PAGE_CSP
        )
        return
    handler = route(exchange.method, request.name)
    body = await _read_json(exchange) if exchange.method == "POST" else {}
    result = handler(console, request, body)
    if not isinstance(result, dict):
        result = await result
    await send_json(exchange, console, 200, result)


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def stream_events(console: ConsoleState, exchange: Exchange) -> None:
    """``text/event-stream``: a ``snapshot`` first, then ``request`` and ``held`` events as
    they happen, until the page goes away (or falls too far behind: then it reconnects)."""
    hub = console.hub
    subscriber = hub.subscribe()

    async def events() -> Any:
        snapshot = {"requests": console.feed.snapshot(), "held": console.held.state()}
        yield b"retry: 1000\n" + _event("snapshot", snapshot)
        while True:
            batch: list[tuple[str, Any]] = []
            with anyio.move_on_after(KEEPALIVE):
                batch = await hub.next_events(subscriber)
                if not batch:
                    return  # dropped: it fell behind
            yield b"".join(_event(name, data) for name, data in batch) if batch else b": \n\n"

    headers = _headers(b"text/event-stream; charset=utf-8", None, console.services.date())
    try:
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await exchange.wait_client_closed()
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            await exchange.send_response(200, headers, events())
            tg.cancel_scope.cancel()
    finally:
        hub.unsubscribe(subscriber)
