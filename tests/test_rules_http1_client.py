"""The upstream client's HTTP/1.1 rules (``rules/http1_client.py``), h11-style: whole input,
byte by byte, trailing data; and against h11: whatever this accepts, h11 reads the same way."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compute_emu.rules import http1_client as http1
from compute_emu.rules.http1_client import (
    ClientProtocol,
    LocalProtocolError,
    ResponseError,
    ResponseHead,
)
from compute_emu.rules.http1_state import MUST_CLOSE, SWITCHED


def started(method: str = "GET", headers: list[tuple[str, bytes]] | None = None) -> ClientProtocol:
    protocol = ClientProtocol()
    protocol.send_request(method, "/", [("host", b"h"), *(headers or [])])
    protocol.send_end()
    return protocol


def read(protocol: ClientProtocol, data: bytes, *, by_byte: bool = False) -> list[object]:
    """Feed ``data`` (``b""`` at the end means the origin closed) and collect events up to the
    end of a final response."""
    out: list[object] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if by_byte else [data]
    for index, piece in enumerate(pieces):
        protocol.receive_data(piece)
        while (event := protocol.next_event()) is not http1.NEED_DATA:
            out.append(event)
            if event is http1.END_OF_MESSAGE or event is http1.CONNECTION_CLOSED:
                for rest in pieces[index + 1 :]:
                    protocol.receive_data(rest)
                return out
            if isinstance(event, ResponseHead) and event.status == 101:
                for rest in pieces[index + 1 :]:
                    protocol.receive_data(rest)
                return out
    return out


def body_of(events: list[object]) -> bytes:
    return b"".join(e for e in events if isinstance(e, bytes))


def test_request_bytes_and_framing() -> None:
    protocol = ClientProtocol()
    head = protocol.send_request("POST", "/p?q", [("Host", b"h"), ("content-length", b"3")])
    assert head == b"POST /p?q HTTP/1.1\r\nHost: h\r\ncontent-length: 3\r\n\r\n"
    assert protocol.send_data(b"abc") == b"abc"
    assert protocol.send_end() == b""
    protocol = ClientProtocol()
    protocol.send_request("POST", "/", [("transfer-encoding", b"chunked")])
    assert protocol.send_data(b"abc") == b"3\r\nabc\r\n"
    assert protocol.send_end() == b"0\r\n\r\n"


def test_request_framing_is_held_to() -> None:
    protocol = ClientProtocol()
    protocol.send_request("POST", "/", [("content-length", b"2")])
    with pytest.raises(LocalProtocolError):
        protocol.send_data(b"abc")
    protocol = ClientProtocol()
    protocol.send_request("POST", "/", [("content-length", b"2")])
    with pytest.raises(LocalProtocolError):
        protocol.send_end()
    with pytest.raises(LocalProtocolError):
        ClientProtocol().send_request("GET", "/", [("x", b"a\r\nb: c")])
    with pytest.raises(LocalProtocolError):
        ClientProtocol().send_request(
            "POST", "/", [("content-length", b"1"), ("transfer-encoding", b"chunked")]
        )


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/a b\r\nX: y"),  # request splitting (review §4 gap 4)
        ("GET", "/a b"),
        ("GET", "/a\tb"),
        ("GET", "/a\x00"),
        ("GET", "/a\x7f"),
        ("GET", "/caf\xe9"),  # not percent-encoded
        ("GET", ""),
        ("GE T", "/"),
        ("GET\r\nX: y", "/"),
        ("", "/"),
    ],
)
def test_the_request_line_is_validated(method: str, target: str) -> None:
    with pytest.raises(LocalProtocolError, match="invalid request"):
        ClientProtocol().send_request(method, target, [("host", b"h")])


@pytest.mark.parametrize("by_byte", [False, True])
def test_a_response_whole_or_byte_by_byte(by_byte: bool) -> None:
    protocol = started()
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello"
    events = read(protocol, data, by_byte=by_byte)
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert (head.status, head.reason, head.http_version) == (200, b"OK", b"1.1")
    assert head.headers == [(b"Content-Length", b"5"), (b"X", b"y")]
    assert body_of(events) == b"hello" and events[-1] is http1.END_OF_MESSAGE
    assert protocol.next_event() is http1.PAUSED  # as h11: not NEED_DATA forever
    assert protocol.reusable()
    protocol.start_next_cycle()
    protocol.send_request("GET", "/again", [("host", b"h")])


@pytest.mark.parametrize("by_byte", [False, True])
def test_chunked_response_and_1xx_heads(by_byte: bool) -> None:
    protocol = started()
    data = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
    )
    events = read(protocol, data, by_byte=by_byte)
    heads = [e.status for e in events if isinstance(e, ResponseHead)]
    assert heads == [103, 200]
    assert body_of(events) == b"abcde"
    assert protocol.reusable()


@pytest.mark.parametrize("by_byte", [False, True])
def test_bytes_after_a_complete_response_forbid_reuse(by_byte: bool) -> None:
    protocol = started()
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n"
    events = read(protocol, data, by_byte=by_byte)
    assert body_of(events) == b"ok"
    assert protocol.trailing_data.startswith(b"HTTP/1.1 200")
    assert not protocol.reusable()


def test_close_delimited_http10_and_connection_close() -> None:
    protocol = started()
    events = read(protocol, b"HTTP/1.0 200 OK\r\n\r\nall of it")
    assert body_of(events) == b"all of it"
    protocol.receive_data(b"")
    assert protocol.next_event() is http1.END_OF_MESSAGE
    assert protocol.next_event() is http1.PAUSED
    assert not protocol.reusable()
    protocol = started()
    read(protocol, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert protocol.their_state is MUST_CLOSE and not protocol.reusable()
    protocol = started(headers=[("connection", b"close")])
    read(protocol, b"HTTP/1.1 204 No Content\r\n\r\n")
    assert not protocol.reusable()


def test_connection_options_are_tokens_not_substrings() -> None:
    """RFC 9110 §7.6.1: ``x-no-close-please`` names a header; it does not close."""
    protocol = started(headers=[("Connection", b"x-no-close-please")])
    read(protocol, b"HTTP/1.1 200 OK\r\nConnection: x-no-close-please\r\nContent-Length: 0\r\n\r\n")
    assert protocol.reusable()
    protocol = started()
    read(protocol, b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n")
    assert not protocol.reusable()


def test_no_body_for_head_204_304() -> None:
    for method, status in (("HEAD", 200), ("GET", 204), ("GET", 304)):
        protocol = started(method)
        events = read(protocol, b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status)
        assert events[-1] is http1.END_OF_MESSAGE and body_of(events) == b""
        assert protocol.reusable()


def test_101_keeps_the_bytes_after_it() -> None:
    with pytest.raises(ResponseError, match="did not ask for"):
        read(started(), b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    protocol = started(headers=[("connection", b"upgrade"), ("upgrade", b"websocket")])
    events = read(
        protocol, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi"
    )
    assert isinstance(events[-1], ResponseHead) and events[-1].status == 101
    assert protocol.their_state is protocol.our_state is SWITCHED
    assert protocol.trailing_data == b"\x81\x02hi"
    assert protocol.next_event() is http1.PAUSED


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_unsafe_responses_are_errors(data: bytes) -> None:
    with pytest.raises(ResponseError):
        read(started(), data)


def test_closing_early_is_incomplete_and_heads_are_bounded() -> None:
    protocol = started()
    with pytest.raises(ResponseError) as caught:
        read(protocol, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
        protocol.receive_data(b"")
        protocol.next_event()
    assert caught.value.incomplete
    protocol = started()
    protocol.receive_data(b"")
    assert protocol.next_event() is http1.CONNECTION_CLOSED
    protocol = ClientProtocol(max_head=1024)
    protocol.send_request("GET", "/", [])
    protocol.receive_data(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 2000)
    with pytest.raises(ResponseError) as caught:
        protocol.next_event()
    assert caught.value.too_large


def test_a_status_line_without_a_reason() -> None:
    events = read(started(), b"HTTP/1.1 204\r\n\r\n")
    assert isinstance(events[0], ResponseHead) and events[0].reason == b""


# --- against h11 -------------------------------------------------------------------------


def h11_reads(data: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("host", "h")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    conn.receive_data(b"")
    event = conn.next_event()
    while isinstance(event, h11.InformationalResponse):
        event = conn.next_event()
    assert isinstance(event, h11.Response)
    body = b""
    while not isinstance(chunk := conn.next_event(), h11.EndOfMessage):
        assert isinstance(chunk, h11.Data)
        body += chunk.data
    return event.status_code, list(event.headers.raw_items()), body


def ours_reads(data: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    protocol = started()
    events = read(protocol, data)
    if events[-1] is not http1.END_OF_MESSAGE:
        protocol.receive_data(b"")
        events.append(protocol.next_event())
    heads = [e for e in events if isinstance(e, ResponseHead) and e.status >= 200]
    assert events[-1] is http1.END_OF_MESSAGE
    return heads[0].status, heads[0].headers, body_of(events)


_value = st.text("ab c\t:;=,\x01\xe9\r\n", max_size=10).map(lambda s: s.encode("latin-1"))


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    status = draw(st.sampled_from([b"200 OK", b"204 No Content", b"404", b"100 Continue"]))
    version = draw(st.sampled_from([b"1.1", b"1.0"]))
    fields = draw(st.lists(st.tuples(st.sampled_from([b"X", b"Y-Z", b"B@d"]), _value), max_size=3))
    framing = draw(
        st.sampled_from(
            [
                b"",
                b"Content-Length: 3\r\n",
                b"Transfer-Encoding: chunked\r\n",
                b"Content-Length: 3, 3\r\n",
            ]
        )
    )
    body = draw(st.sampled_from([b"abc", b"3\r\nabc\r\n0\r\n\r\n", b"abcdef"]))
    head = b"HTTP/%s %s\r\n" % (version, status) + framing
    head += b"".join(n + b": " + v + b"\r\n" for n, v in fields)
    return head + b"\r\n" + body


@settings(max_examples=400, deadline=None)
@given(responses())
def test_whatever_we_accept_h11_reads_the_same(data: bytes) -> None:
    try:
        ours = ours_reads(data)
    except ResponseError:
        return  # stricter than h11 is allowed
    theirs = h11_reads(data)
    # h11 folds "3, 3" into "3"; the length read is the same (the body shows it)
    assert ours[0] == theirs[0] and ours[2] == theirs[2]
    assert _without_length(ours[1]) == _without_length(theirs[1])


def _without_length(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in headers if n.lower() != b"content-length"]
