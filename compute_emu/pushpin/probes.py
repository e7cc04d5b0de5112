"""Requests compute-emu sends to its own Pushpin to learn what it is ready for.

They go through the upstream client like every other request, each on a connection of its
own (``Connection: close``). Probe routes are reachable only with a ``Pushpin-Route`` header
naming them (see ``config.py``), which only compute-emu sends.
"""

from __future__ import annotations

import contextlib
import json
import os

import anyio

from ..upstream.client import Origin, UpstreamClient, UpstreamError, UpstreamRequest
from .config import PROBE_ACCEPT_ROUTE, PROBE_CLIENT_ROUTE, routes_probe_route

PUBLISH_API_HELLO = b"Pushpin API"  # what Pushpin's publish API answers to GET /
TEST_HANDLER_HELLO = b"Hello from the Pushpin test handler"  # its test handler's, to GET /
PROBE_TIMEOUT = 0.5  # seconds one probe may take (a request sent too early can hang)
MAX_READ = 64 * 1024

PROBE_CHANNEL = "compute-emu-probe-test"  # the test handler's channel "test" on the probe route
# Larger than the credit window condure grants the handler (client_buffer_size, 8 KiB), so the
# whole message arrives only if condure's credits reach the handler.
DELIVERY_SIZE = 32 * 1024
DELIVERY_TIMEOUT = 1.0

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


async def delivers(client: UpstreamClient, proxy_port: int, api_port: int) -> bool:
    """Whether a message published to a stream held on the test handler arrives whole.

    This checks the one link the other probes do not: condure -> handler, which carries the
    credits and sequence numbers of held streams. When it is down (a ZeroMQ connection that
    did not come up; condure logs "stream zmq send to: Host unreachable"), streams are held
    but stall or get cancelled ("received message out of sequence") after a few messages.
    """
    token = os.urandom(8).hex()
    content = f"{token}:{'.' * DELIVERY_SIZE}:{token}\n"
    expected = content.encode()
    item = {"channel": PROBE_CHANNEL, "formats": {"http-stream": {"content": content}}}
    publish = json.dumps({"items": [item]}).encode()
    arrived = anyio.Event()
    with anyio.move_on_after(DELIVERY_TIMEOUT), contextlib.suppress(UpstreamError):
        held = await client.request(
            Origin("127.0.0.1", proxy_port),
            UpstreamRequest(
                "GET",
                "/stream",
                [
                    ("host", b"127.0.0.1"),
                    ("connection", b"close"),
                    ("pushpin-route", PROBE_ACCEPT_ROUTE.encode()),
                ],
            ),
        )
        async with held, anyio.create_task_group() as tg:

            async def read() -> None:
                body = b""
                with contextlib.suppress(UpstreamError):
                    while expected not in body:
                        if not (chunk := await held.receive()):
                            return
                        body = body[-2 * len(expected) :] + chunk
                    arrived.set()
                tg.cancel_scope.cancel()

            tg.start_soon(read)
            # the subscription starts a moment after the hold: publish until it arrives
            while not arrived.is_set():
                with contextlib.suppress(UpstreamError):
                    await post(client, api_port, "/publish/", publish)
                with anyio.move_on_after(0.1):
                    await arrived.wait()
            tg.cancel_scope.cancel()
    return arrived.is_set()


async def post(client: UpstreamClient, port: int, path: str, body: bytes) -> None:
    """POST a JSON ``body`` to 127.0.0.1:``port`` and read the answer."""
    headers = [
        ("host", b"127.0.0.1"),
        ("content-type", b"application/json"),
        ("content-length", str(len(body)).encode()),
    ]
    response = await client.request(
        Origin("127.0.0.1", port), UpstreamRequest("POST", path, headers, body)
    )
    async with response:
        while await response.receive():
            pass
