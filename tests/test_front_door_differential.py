"""The front door against h11 and Node's llhttp, over generated request heads: whatever both
refuse, compute-emu refuses too; whatever compute-emu and llhttp both accept, they read as the
same request (method, target, version, body). A parser change that makes compute-emu accept
what both peers refuse fails here.

"The front door" is the parser (``rules/http1_server.py``) read whole, byte by byte and in
pieces, then the admission rules (``server/admission.py``, every Host allowed: that guard is
not about parsing). llhttp runs in a real Node process (``tests/support/llhttp_echo.js``, its
strict defaults), started once for the module and stopped by PID; the heads are drawn by
hypothesis, derandomized, so that CI sees the same ones every run. Node is required where CI
runs (``scripts/test-deps`` installs it); elsewhere its absence skips this file.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h11
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from compute_emu.rules.http1_server import ProtocolError, RequestHead, ServerProtocol
from compute_emu.server.admission import HostPolicy, check_request
from tests.support.processes import Child
from tests.support.sans_io import read_every_way

ECHO = Path(__file__).parent / "support" / "llhttp_echo.js"
ANY_HOST = HostPolicy(allow_all=True)


@dataclass(frozen=True)
class Reading:
    """A request as one parser read it (None fields: it refused)."""

    method: bytes
    target: bytes
    version: bytes
    body: bytes


@dataclass
class Llhttp:
    port: int

    def reads(self, data: bytes) -> Reading | None:
        """What Node's server makes of ``data`` followed by the client closing."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        if not answer.startswith(b"HTTP/1.1 200 "):
            return None
        seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        return Reading(
            seen["method"].encode(),
            seen["url"].encode("latin-1"),
            seen["httpVersion"].encode(),
            seen["body"].encode("latin-1"),
        )


@pytest.fixture(scope="module")
def llhttp() -> Iterator[Llhttp]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") or os.environ.get("COMPUTE_EMU_NO_SKIP"):
            pytest.fail("node is not installed (scripts/test-deps installs it)")
        pytest.skip("node is not installed (apt-get install nodejs)")
    child = Child([node, str(ECHO)])
    try:
        port = int(child.wait_for(r"^PORT (\d+)$").group(1))
        yield Llhttp(port)
    finally:
        child.stop()  # by PID
        assert not child.kill_leftovers()


def ours(data: bytes) -> Reading | None:
    """What the front door lets through to the app, or None."""
    try:
        events = read_every_way(ServerProtocol, data)
    except ProtocolError:
        return None
    head = events[0]
    assert isinstance(head, RequestHead)
    lower = [(name.lower(), value) for name, value in head.headers]
    if check_request(head.method, head.target, head.http_version, lower, ANY_HOST) is not None:
        return None
    body = b"".join(event for event in events if isinstance(event, bytes))
    return Reading(head.method, head.target, head.http_version, body)


def h11_reads(data: bytes) -> Reading | None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    conn.receive_data(b"")
    try:
        request = conn.next_event()
        if not isinstance(request, h11.Request):
            return None
        body = b""
        while not isinstance(event := conn.next_event(), h11.EndOfMessage):
            if not isinstance(event, h11.Data):
                return None
            body += event.data
    except h11.ProtocolError:
        return None
    return Reading(request.method, request.target, request.http_version, body)


# -- the heads ------------------------------------------------------------------------------
# A valid request, then up to three mutations, each a spot where parsers have been read apart.

_LENGTHS = [
    b"3",
    b"03",
    b"3, 3",
    b" 3",
    b"3 ",
    b"+3",
    b"3, 03",
    b"-3",
    b"0x3",
    b"",
    b"3,",
    b"9" * 20,
]
_CODINGS = [b"chunked", b"Chunked", b"CHUNKED", b"chunked, ", b" chunked", b"gzip, chunked"]
_CODINGS += [b"chunked, chunked", b"identity", b""]
_BODIES = [b"", b"abc", b"ab", b"abcd", b"3\r\nabc\r\n0\r\n\r\n", b"3\r\nabc\r\n0\r\n"]
_BODIES += [b"3;x=y\r\nabc\r\n0\r\n\r\n", b"3\nabc\n0\n\n", b"3\r\nabc\r\n0\r\nT: 1\r\n\r\n"]
_VALUES = [b"a\x00b", b"a\x01b", b"a\x7fb", b"a\rb", b"\xe9", b"a\tb", b" a ", b""]


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT"]))
    target = draw(st.sampled_from([b"/", b"/a?b=1"]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
    hosts = [b"Host: h"]
    fields = [b"X-A: y"]
    framing: list[bytes] = []
    body = draw(st.sampled_from([b"", b"abc", b"chunked"]))
    if body == b"abc":
        framing = [b"Content-Length: 3"]
    elif body == b"chunked":
        framing, body = [b"Transfer-Encoding: chunked"], b"3\r\nabc\r\n0\r\n\r\n"
    line_end, fold = b"\r\n", b""
    for mutation in draw(st.lists(st.integers(0, 13), max_size=3)):
        if mutation == 0:
            method = draw(st.sampled_from([b"get", b"P@T", b"G\tT", b"", b"GET "]))
        elif mutation == 1:
            target = draw(
                st.sampled_from([b"*", b"/\xe9", b"/a b", b"http://x/y", b"/a\x00", b"//x"])
            )
        elif mutation == 2:
            version = draw(st.sampled_from([b"HTTP/2.0", b"HTTP/1.1 ", b"HTTP/11", b"http/1.1"]))
        elif mutation == 3:
            hosts = draw(
                st.sampled_from([[], [b"Host: h", b"Host: i"], [b"Host : h"], [b"Host: "]])
            )
        elif mutation == 4:
            framing = [b"Content-Length: " + draw(st.sampled_from(_LENGTHS))]
        elif mutation == 5:
            framing = [b"Transfer-Encoding: " + draw(st.sampled_from(_CODINGS))]
        elif mutation == 6:
            framing = [b"Content-Length: 3", b"Transfer-Encoding: chunked"]
            framing = framing if draw(st.booleans()) else framing[::-1]
        elif mutation == 7:
            framing = [b"Content-Length: 3", b"Content-Length: " + draw(st.sampled_from(_LENGTHS))]
        elif mutation == 8:
            body = draw(st.sampled_from(_BODIES))
        elif mutation == 9:
            fields.append(b"X-B: " + draw(st.sampled_from(_VALUES)))
        elif mutation == 10:
            fields.append(
                draw(st.sampled_from([b"X B: y", b"X@: y", b": y", b"\xe9: y", b"X-B : y"]))
            )
        elif mutation == 11:
            fold = draw(st.sampled_from([b" folded\r\n", b"\tfolded\r\n"]))
        elif mutation == 12:
            line_end = draw(st.sampled_from([b"\n", b"\r"]))
        else:
            fields.append(b"Connection: " + draw(st.sampled_from([b"close", b"keep-alive", b"x"])))
    lines = [method + b" " + target + b" " + version, *hosts, *framing, *fields]
    head = b"".join(line + b"\r\n" for line in lines) + fold
    if line_end != b"\r\n":  # one line of the head ends another way
        at = draw(st.integers(0, len(lines) - 1))
        head = head.replace(lines[at] + b"\r\n", lines[at] + line_end, 1)
    return head + b"\r\n" + body


CHUNKED_ABC = b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
KNOWN = [  # what the probe behind this test found, and its neighbours
    b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked" + CHUNKED_ABC,
    b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, " + CHUNKED_ABC,
    b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 03\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\nHost: h\n\n",
]


@settings(max_examples=600, deadline=None, derandomize=True)
@example(KNOWN[0])
@example(KNOWN[1])
@example(KNOWN[2])
@example(KNOWN[3])
@example(KNOWN[4])
@example(KNOWN[5])
@example(KNOWN[6])
@given(requests())
def test_the_front_door_accepts_nothing_h11_and_llhttp_both_refuse(
    llhttp: Llhttp, data: bytes
) -> None:
    mine, node, h11_read = ours(data), llhttp.reads(data), h11_reads(data)
    if node is None and h11_read is None:
        assert mine is None, "compute-emu accepts what h11 and llhttp both refuse"
    if mine is not None and node is not None:
        assert mine == node, "compute-emu and llhttp read the same bytes differently"
