"""Fuzzing the front door (hypothesis, bounded in time): generated request heads.

Each input (request lines with odd methods, targets and versions; header names and values with
CR, LF, NUL and obs-fold; duplicate Content-Length and Transfer-Encoding; huge lines; bodies,
chunked or not) is sent to an in-process server on a real socket, which is then half-closed:
the answer must be a clean status line or a closed connection within a deadline, and the
server logs no error or traceback. The same heads, parsed, go straight to ``check_request``,
which answers None or a refusal and never raises.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
import socket
from collections.abc import Iterator

import anyio
import anyio.from_thread
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compute_emu.aio.listener import Listener
from compute_emu.aio.stream import Stream
from compute_emu.server.admission import HostPolicy, check_request
from compute_emu.server.connection import Addresses, Connection, Exchange, Limits
from compute_emu.server.framing import HttpDate

DEADLINE = 5.0  # seconds per input: only "it did not hang"
STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9]{2}) [^\r\n]*\r\n")


# --- the server -----------------------------------------------------------------------------


async def count_body(exchange: Exchange) -> None:
    """A trivial app: reads the whole body, answers its length."""
    total = 0
    while chunk := await exchange.receive_body():
        total += len(chunk)
    body = str(total).encode()
    await exchange.send_response(200, [("content-length", str(len(body)).encode())], body)


class Problems(logging.Handler):
    """Log records a connection must never produce: warnings, errors, tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING or record.exc_info:
            self.records.append(record)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, Problems]]:
    """An in-process front door on 127.0.0.1 (its own event loop, in a thread)."""
    problems = Problems()
    logger = logging.getLogger("compute_emu")
    logger.addHandler(problems)
    date = HttpDate()
    limits = Limits(header_timeout=2.0, idle_timeout=2.0, body_timeout=2.0)

    async def start() -> tuple[Listener, int]:
        listener = await Listener.open("127.0.0.1", 0)
        return listener, listener.address[1]

    with anyio.from_thread.start_blocking_portal() as portal:
        listener, port = portal.call(start)

        async def handle(stream: Stream) -> None:
            addresses = Addresses(("127.0.0.1", 1), ("127.0.0.1", port))
            await Connection(stream, addresses, count_body, date, limits).serve()

        async def run() -> None:
            await listener.serve(handle)

        future = portal.start_task_soon(run)
        try:
            yield port, problems
        finally:
            future.cancel()
            with contextlib.suppress(BaseException):
                future.result(10)
            logger.removeHandler(problems)


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, half-close, read until the server closes (within DEADLINE)."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # a close with our unread bytes in its buffer: a closed connection
        except TimeoutError:
            pytest.fail(f"no answer and no close within {DEADLINE} s for {data[:200]!r}")
        return received


# --- request heads ------------------------------------------------------------------------

TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(st.sampled_from(TOKEN), min_size=1, max_size=12).map(str.encode)
junk = st.binary(max_size=12)
huge = st.integers(65_000, 70_000).map(lambda n: b"x" * n)  # over the 64 KiB head limit


@st.composite
def mostly(
    draw: st.DrawFn, usual: st.SearchStrategy[bytes], odd: st.SearchStrategy[bytes], one_in: int = 5
) -> bytes:
    """The usual value, or one time in ``one_in`` an odd one."""
    return draw(odd) if draw(st.integers(1, one_in)) == 1 else draw(usual)


methods = mostly(
    st.sampled_from([b"GET", b"HEAD", b"POST", b"PUT", b"OPTIONS", b"DELETE", b"get"]),
    st.sampled_from([b"CONNECT", b"PRI", b"", b"G ET"]) | tokens | junk,
    8,
)
targets = mostly(
    st.sampled_from([b"/", b"/a?b=c", b"/%00", b"*"]),
    st.sampled_from([b"http://evil.example/", b"//x", b"", b"/\x00", b"/ a", b"evil.example:443"])
    | huge.map(lambda h: b"/" + h)
    | junk.map(lambda j: b"/" + j),
    8,
)
versions = mostly(
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]),
    st.sampled_from([b"HTTP/2.0", b"HTTP/9.9", b"http/1.1", b"HTTP/1", b"", b"HTTP/1.1x"]) | junk,
    8,
)
VALUES = {
    b"host": [
        b"localhost",
        b"127.0.0.1:8080",
        b"[::1]",
        b"evil.example",
        b"127.0.0.1/fast#",
        b"",
        b"localhost:99999",
        b"local\x00host",
        b"[::1",
    ],
    b"content-length": [b"0", b"5", b"-1", b"1e3", b"5, 5", b" 5", b"99999999999999999999", b""],
    b"transfer-encoding": [
        b"chunked",
        b"gzip, chunked",
        b"chunked, gzip",
        b"identity",
        b"CHUNKED",
        b"",
    ],
    b"expect": [b"100-continue", b"nonsense"],
    b"connection": [b"close", b"keep-alive", b"upgrade", b"close, close"],
    b"upgrade": [b"websocket", b"h2c"],
}
header_names = mostly(
    st.sampled_from([*VALUES, b"x-a", b"Host", b"Content-Length"]),
    st.sampled_from([b"bad name", b""]) | tokens | junk,
    one_in=10,
)
odd_values = (
    junk
    | huge
    | st.sampled_from(
        [b"a\rb", b"a\nb", b"a\x00b", b"a\r\n b", b"a\r\n\tb", b" padded ", b"\xff\xfe"]
    )
)


@st.composite
def header_lines(draw: st.DrawFn) -> bytes:
    name = draw(header_names)
    value = draw(mostly(st.sampled_from(VALUES.get(name.lower(), [b"v", b""])), odd_values, 10))
    separator = draw(mostly(st.just(b": "), st.sampled_from([b":", b" : ", b"\t:", b""]), 10))
    return name + separator + value


BODIES = [
    b"",
    b"hello",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"zz\r\n",
    b"5\r\nhel",
    b"0\r\n\r\n",
    b"3;ext\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
    b"ffffffffffffffffff\r\n",
]


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 20)) == 0:
        return draw(
            st.sampled_from([b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\r\n\r\n", b"GET\r\n\r\n"])
            | st.binary(max_size=200)
        )
    eol = draw(mostly(st.just(b"\r\n"), st.sampled_from([b"\n", b"\r"]), 10))
    line = b" ".join([draw(methods), draw(targets), draw(versions)])
    host = [] if draw(st.integers(0, 9)) == 0 else [b"host: localhost"]
    lines = [line, *host, *draw(st.lists(header_lines(), max_size=6))]
    end = draw(mostly(st.just(eol + eol), st.sampled_from([eol, b""]), 10))  # complete or not
    return eol.join(lines) + end + draw(st.sampled_from(BODIES) | st.binary(max_size=40))


FUZZ = settings(
    max_examples=2000,
    deadline=datetime.timedelta(seconds=DEADLINE * 2),  # the socket deadline fails first
    database=None,  # nothing written into the tree
    derandomize=bool(os.environ.get("CI")),  # CI replays the same inputs; a local run explores
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(data=requests())
def test_every_request_head_gets_a_status_line_or_a_close(server, data: bytes):
    port, problems = server
    problems.records.clear()
    answer = exchange(port, data)
    if answer:
        match = STATUS_LINE.match(answer)
        assert match, f"{data[:200]!r} got {answer[:200]!r}"
        reason = answer.partition(b"\r\n\r\n")[2][:30].decode(errors="replace")
        event(f"status {match[1].decode()}" + (f": {reason}" if match[1] == b"400" else ""))
    else:
        event("closed")
    assert not problems.records, [r.getMessage() for r in problems.records]


# --- check_request on its own ---------------------------------------------------------------

REFUSALS = {400, 403, 405, 505}


@settings(FUZZ, max_examples=3000, deadline=None)
@given(
    method=methods,
    target=targets,
    version=mostly(
        st.sampled_from([b"1.1", b"1.0"]), st.sampled_from([b"2.0", b"9.9", b""]) | junk
    ),
    headers=st.lists(
        st.tuples(
            header_names.map(bytes.lower),
            st.sampled_from([v for vs in VALUES.values() for v in vs]) | junk,
        ),
        max_size=8,
    ),
    names=st.lists(st.sampled_from(["example.com", ".example.org", "*", "localhost"]), max_size=2),
)
def test_check_request_answers_none_or_a_refusal(method, target, version, headers, names):
    refusal = check_request(method, target, version, headers, HostPolicy.build(names))
    if refusal is not None:
        assert refusal.status in REFUSALS
        assert refusal.message.endswith("\n")
        event(f"refused {refusal.status}")
    else:
        event("admitted")
