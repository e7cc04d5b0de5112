"""Opening a TCP connection as a :class:`~.transport.ProtocolStream`.

An IP address is connected to directly: one socket, ``sock_connect``, no resolver and no task
group (anyio's ``connect_tcp`` costs about 0.5 ms more per connection here, which every
Fanout handoff to 127.0.0.1 would pay). A host name is resolved by the event loop's resolver
(``anyio.getaddrinfo``: asyncio's default executor, or libuv's own threads under uvloop; the
one thread hop outside compute-emu's worker pool, left to the loop because uvloop resolves
without a Python thread at all) and its addresses are tried as ``anyio.connect_tcp`` tries
them (RFC 6555, "happy eyeballs"): IPv6 first, then IPv4; the next attempt starts when the
last one failed or 250 ms after it began; the first to connect wins, the others are closed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import anyio

from .transport import ProtocolStream

HAPPY_EYEBALLS_DELAY = 0.25  # seconds before the next address is tried alongside


async def connect(host: str, port: int) -> ProtocolStream:
    """A connection to ``host:port``. Raises ``OSError`` as ``anyio.connect_tcp`` does: an IP
    address's own error (``ConnectionRefusedError`` ...), ``socket.gaierror`` for a name that
    does not resolve, ``OSError("All connection attempts failed")`` when none of its
    addresses took the connection (the reason, or an ``ExceptionGroup`` of them, as its
    ``__cause__``)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        sock = await _first_to_connect(await _addresses(host, port))
    else:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = await _connected_socket(family, (host, port))
    try:
        _, stream = await asyncio.get_running_loop().create_connection(ProtocolStream, sock=sock)
    except BaseException:
        sock.close()
        raise
    return stream


async def _addresses(host: str, port: int) -> list[tuple[int, Any]]:
    """``host``'s addresses in the order they are tried: the first IPv6 one, the first IPv4
    one, then the rest as the resolver gave them."""
    found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    first: list[tuple[int, Any]] = []
    rest: list[tuple[int, Any]] = []
    families = set()
    for family, _, _, _, sockaddr in found:
        if family in (socket.AF_INET6, socket.AF_INET) and family not in families:
            families.add(family)
            first.append((family, sockaddr))
        else:
            rest.append((family, sockaddr))
    first.sort(key=lambda item: item[0] != socket.AF_INET6)
    return first + rest


async def _first_to_connect(addresses: list[tuple[int, Any]]) -> socket.socket:
    """A socket connected to the first of ``addresses`` that takes the connection, the next
    attempt starting when the last failed or after ``HAPPY_EYEBALLS_DELAY``."""
    connected: socket.socket | None = None
    errors: list[OSError] = []

    async def attempt(family: int, sockaddr: Any, done: anyio.Event) -> None:
        nonlocal connected
        try:
            sock = await _connected_socket(family, sockaddr)
        except OSError as exc:
            errors.append(exc)
        else:
            if connected is None:
                connected = sock
                attempts.cancel_scope.cancel()
            else:
                sock.close()
        finally:
            done.set()

    try:
        async with anyio.create_task_group() as attempts:
            for family, sockaddr in addresses:
                done = anyio.Event()
                attempts.start_soon(attempt, family, sockaddr, done)
                with anyio.move_on_after(HAPPY_EYEBALLS_DELAY):
                    await done.wait()
        if connected is None:
            if not errors:
                raise OSError("the name resolved to no address")
            cause = errors[0] if len(errors) == 1 else ExceptionGroup("no address took it", errors)
            raise OSError("All connection attempts failed") from cause
    except BaseException:
        if connected is not None:
            connected.close()
        raise
    return connected


async def _connected_socket(family: int, sockaddr: Any) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock
