"""Requests compute-emu sends to its own Pushpin to learn what it is ready for.

They go through the upstream client like every other request, each on a connection of its
own (``Connection: close``). Probe routes are reachable only with a ``Pushpin-Route`` header
naming them (see ``config.py``), which only compute-emu sends.
"""

from __future__ import annotations

import contextlib

import anyio

from ..upstream.client import Origin, UpstreamClient, UpstreamError, UpstreamRequest
from .config import PROBE_ACCEPT_ROUTE, PROBE_CLIENT_ROUTE, routes_probe_route

PUBLISH_API_HELLO = b"Pushpin API"  # what Pushpin's publish API answers to GET /
TEST_HANDLER_HELLO = b"Hello from the Pushpin test handler"  # its test handler's, to GET /
PROBE_TIMEOUT = 0.5  # seconds one probe may take (a request sent too early can hang)
MAX_READ = 64 * 1024

# Readiness, in order: through the outgoing client to the publish API, then a GRIP stream
# hold on the test handler (the proxy->handler accept link).
READINESS = (
    (PROBE_CLIENT_ROUTE, "/", PUBLISH_API_HELLO),
    (PROBE_ACCEPT_ROUTE, "/stream", b"[stream opened]"),
)


async def get(
    client: UpstreamClient, port: int, path: str, expect: bytes, route: str | None = None
) -> bytes | None:
    """GET ``path`` on 127.0.0.1:``port`` (with ``Pushpin-Route: route``) and read the body
    until ``expect`` shows or it ends; None if no answer came."""
    headers = [("host", b"127.0.0.1"), ("connection", b"close")]
    if route is not None:
        headers.append(("pushpin-route", route.encode()))
    try:
        response = await client.request(
            Origin("127.0.0.1", port), UpstreamRequest("GET", path, headers)
        )
    except UpstreamError:
        return None
    body = b""
    async with response:
        with contextlib.suppress(UpstreamError):
            while expect not in body and len(body) < MAX_READ:
                if not (chunk := await response.receive()):
                    break
                body += chunk
    return body


async def answers(
    client: UpstreamClient, proxy_port: int, route: str, path: str, expect: bytes
) -> bool:
    """Whether a GET through the proxy port on ``route`` is answered with ``expect`` (within
    ``PROBE_TIMEOUT``)."""
    with anyio.move_on_after(PROBE_TIMEOUT):
        answer = await get(client, proxy_port, path, expect, route)
        return answer is not None and expect in answer
    return False


async def routes_loaded(
    client: UpstreamClient, proxy_port: int, generation: int, timeout: float
) -> bool:
    """Wait until Pushpin routes by the routes file of ``generation`` (its probe route
    answers; Pushpin swaps all routes of a file at once): True, or False after ``timeout``."""
    route = routes_probe_route(generation)
    with anyio.move_on_after(timeout):
        while not await answers(client, proxy_port, route, "/", TEST_HANDLER_HELLO):
            await anyio.sleep(0.02)
        return True
    return False
