"""The front door's HTTP/1.1 rules (``rules/http1_server.py``), h11-style: every reader case
whole, byte by byte, in random pieces and with trailing data (``tests/support/sans_io.tr``);
and against h11 itself: whatever this accepts, h11 reads the same way."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compute_emu.rules import http1_server as http1
from compute_emu.rules.framing import CHUNKED, NO_BODY, Framing
from compute_emu.rules.http1_server import (
    LocalProtocolError,
    ProtocolError,
    RequestHead,
    ServerProtocol,
)
from tests.support.sans_io import SPLITS, Raises, Runs, read, read_every_way
from tests.support.sans_io import tr as tr_any

GET = b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"
GET_HEAD = RequestHead(
    b"GET", b"/a?b=1", b"1.1", [(b"Host", b"example.com"), (b"User-Agent", b"t")]
)
NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"  # a pipelined request after the message
EOM, PAUSED = http1.END_OF_MESSAGE, http1.PAUSED


def tr(data: bytes, expected: list[object], *, eof: bool = False) -> Runs:
    return tr_any(ServerProtocol, data, expected, trailing=NEXT, eof=eof)


def refused(status: int) -> Raises:
    return Raises.of(ProtocolError, status=status)


def head(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    framing: Framing = NO_BODY,
    version: bytes = b"1.1",
) -> RequestHead:
    return RequestHead(method, target, version, headers, framing)


def written_head(data: bytes, framing: Framing = NO_BODY) -> RequestHead:
    """The head a well-formed request's bytes say (split by hand, to compare with)."""
    lines = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    method, target, version = lines[0].split(b" ")
    fields = [tuple(line.split(b": ", 1)) for line in lines[1:]]
    return RequestHead(method, target, version.removeprefix(b"HTTP/"), fields, framing)  # type: ignore[arg-type]


def answered(protocol: ServerProtocol, status: int = 204) -> ServerProtocol:
    protocol.send_response(status, [(b"content-length", b"0")] if status != 204 else [])
    protocol.send_end()
    return protocol


# --- reading requests ----------------------------------------------------------------------


def test_a_get() -> None:
    for protocol in tr(GET, [GET_HEAD, EOM, PAUSED]).all:
        assert protocol.their_state is http1.DONE and protocol.our_state is http1.SEND_RESPONSE


def test_response_and_keep_alive_cycle() -> None:
    for protocol in tr(GET, [GET_HEAD, EOM, PAUSED]).all:
        head_bytes = protocol.send_response(200, [(b"content-length", b"2")], b"OK")
        assert head_bytes == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
        assert protocol.send_data(b"hi") == b"hi"
        assert protocol.send_end() == b""
        protocol.start_next_cycle()
        assert protocol.our_state is protocol.their_state is http1.IDLE


def test_pipelined_requests_stay_for_the_next_cycle() -> None:
    post = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    for protocol in tr_any(ServerProtocol, GET, [GET_HEAD, EOM, PAUSED], trailing=post).trailed:
        assert protocol.trailing_data == post
        answered(protocol).start_next_cycle()
        assert read(protocol, iter(())) == [
            written_head(post, Framing("length", 3)),
            b"abc",
            EOM,
            PAUSED,
        ]


@pytest.mark.parametrize(
    ("framing_lines", "body", "payload", "framing"),
    [
        (b"Content-Length: 5", b"hello", b"hello", Framing("length", 5)),
        (b"Content-Length: 2, 2\r\nContent-Length: 2", b"ok", b"ok", Framing("length", 2)),
        (b"Content-Length: 5, 5", b"hello", b"hello", Framing("length", 5)),
        (b"Content-Length: 005", b"hello", b"hello", Framing("length", 5)),
        (b"Content-Length: 0", b"", b"", Framing("length", 0)),
        (
            b"Transfer-Encoding: chunked",
            b"5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-Sum: 1\r\n\r\n",
            b"hello!",
            CHUNKED,
        ),
        (b"Transfer-Encoding: Chunked", b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", b"hello", CHUNKED),
    ],
)
def test_request_bodies_and_their_framing(
    framing_lines: bytes, body: bytes, payload: bytes, framing: Framing
) -> None:
    data = b"PUT / HTTP/1.1\r\nHost: h\r\n" + framing_lines + b"\r\n\r\n" + body
    request = written_head(data, framing)
    tr(data, [request, payload, EOM, PAUSED] if payload else [request, EOM, PAUSED])


@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nhelloXX",  # no CRLF after the data
        b"zz\r\n",  # not a size
        b"5\nhello\r\n0\r\n\r\n",  # a bare LF
        b"5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n",  # obs-fold in a trailer
    ],
)
def test_bad_chunked_bodies_are_400(body: bytes) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    for protocol in tr(data, [written_head(data, CHUNKED), refused(400)]).all:
        assert protocol.their_state is http1.ERROR and not protocol.keep_alive


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1\nHost: h\r\n\r\n", 400),  # bare LF
        (b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),  # bare CR
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),  # space before the colon
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400),  # a control character
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),  # NUL
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", 400),  # DEL
        (b"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # two Hosts
        (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # two spaces
        (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /\xe9 HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # a target must be ASCII
        (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # not a token
        (b"GET / HTTP/11\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 05\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456789\r\n\r\n", 400),
        (
            b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (
            b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, \r\n\r\n", 501),
    ],
)
def test_malformed_heads_are_refused(data: bytes, status: int) -> None:
    for protocol in tr(data, [refused(status)]).all:
        assert protocol.their_state is http1.ERROR and not protocol.keep_alive
        with pytest.raises(ProtocolError):  # and it stays refused
            protocol.next_event()
        # the error response can still go out, and closes the connection
        out = protocol.send_response(status, [(b"content-length", b"0")], b"Bad Request")
        assert out.endswith(b"connection: close\r\n\r\n")


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nX: " + b"a" * 2000,  # never complete
        b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 1100 + b"\r\n\r\n",  # complete, too big
    ],
)
def test_head_size_is_bounded_complete_or_not(data: bytes) -> None:
    tr_any(lambda: ServerProtocol(max_head=1024), data, [refused(431)], trailing=NEXT)


def test_leading_empty_lines_are_ignored() -> None:
    tr(b"\r\n\r\n" + GET, [GET_HEAD, EOM, PAUSED])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", [http1.CONNECTION_CLOSED]),  # between requests: a quiet end
        (b"GET / HT", [refused(400)]),  # inside a head
        (
            b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc",  # inside a body
            [
                head(
                    b"PUT", b"/", [(b"Host", b"h"), (b"Content-Length", b"9")], Framing("length", 9)
                ),
                b"abc",
                refused(400),
            ],
        ),
    ],
)
def test_the_client_closing(data: bytes, expected: list[object]) -> None:
    for protocol in tr(data, expected, eof=True).all:
        assert protocol.peer_eof


@pytest.mark.parametrize(
    ("data", "keep_alive"),
    [
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n", False),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
            False,
        ),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: x-no-close-please\r\n\r\n", True),
        (GET, True),
    ],
)
def test_keep_alive_and_connection_close(data: bytes, keep_alive: bool) -> None:
    for protocol in tr(data, [written_head(data), EOM, PAUSED]).all:
        assert protocol.keep_alive is keep_alive
        head_bytes = protocol.send_response(200, [(b"content-length", b"0")], b"OK")
        assert head_bytes.endswith(b"\r\n\r\n")
        assert (b"connection: close" in head_bytes) is not keep_alive
        protocol.send_end()
        assert protocol.our_state is (http1.DONE if keep_alive else http1.MUST_CLOSE)
        assert protocol.their_state is (http1.DONE if keep_alive else http1.MUST_CLOSE)


def test_100_continue() -> None:
    data = b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    request = written_head(data, Framing("length", 2))
    for split in SPLITS.values():  # the body is held back: nothing more to read yet
        protocol = ServerProtocol()
        assert read(protocol, split(data)) == [request]
        assert protocol.client_waits_for_100_continue
        assert protocol.send_informational(100, []) == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert not protocol.client_waits_for_100_continue
    for protocol in tr(data + b"ok", [request, b"ok", EOM, PAUSED]).all:
        assert not protocol.client_waits_for_100_continue  # the body came anyway


def test_101_switches_and_keeps_the_bytes_after_the_request() -> None:
    data = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    request = written_head(data)
    runs = tr_any(ServerProtocol, data, [request, EOM, PAUSED], trailing=b"\x81\x05hello")
    for protocol in runs.trailed:
        out = protocol.send_informational(101, [(b"upgrade", b"websocket")])
        assert out == b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n"
        assert protocol.trailing_data == b"\x81\x05hello"
        assert protocol.next_event() is PAUSED
        assert protocol.our_state is protocol.their_state is http1.SWITCHED


# --- writing responses ---------------------------------------------------------------------


def ready(data: bytes = GET) -> ServerProtocol:
    protocol = ServerProtocol()
    assert read(protocol, iter([data]))[-1] is PAUSED
    return protocol


def test_response_framing_chosen_as_h11_does() -> None:
    protocol = ready()  # HTTP/1.1, no framing given: chunked
    head_bytes = protocol.send_response(200, [], b"OK")
    assert b"transfer-encoding: chunked\r\n" in head_bytes
    assert protocol.send_data(b"abc") == b"3\r\nabc\r\n"
    assert protocol.send_end() == b"0\r\n\r\n"

    protocol = ready(b"GET / HTTP/1.0\r\n\r\n")  # HTTP/1.0 and chunked asked for: close-delimited
    head_bytes = protocol.send_response(200, [(b"transfer-encoding", b"chunked")], b"OK")
    assert b"transfer-encoding" not in head_bytes and b"connection: close" in head_bytes
    assert protocol.send_data(b"abc") == b"abc"

    protocol = ready(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")  # HEAD: headers as given, no body
    head_bytes = protocol.send_response(200, [(b"content-length", b"10")], b"OK")
    assert b"content-length: 10" in head_bytes
    with pytest.raises(LocalProtocolError):
        protocol.send_data(b"x")
    assert protocol.send_end() == b""


@pytest.mark.parametrize(
    ("request_bytes", "chunked_out"),
    [
        (GET, True),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", False),
    ],
)
def test_a_response_with_both_framings_goes_out_with_transfer_encoding_only(
    request_bytes: bytes, chunked_out: bool
) -> None:
    """RFC 9112 §6.2: never both; h11 keeps Transfer-Encoding (review §4 gap 3)."""
    protocol = ready(request_bytes)
    headers = [(b"content-length", b"3"), (b"transfer-encoding", b"chunked")]
    head_bytes = protocol.send_response(200, headers, b"OK")
    assert b"content-length" not in head_bytes
    assert (b"transfer-encoding: chunked" in head_bytes) is (
        chunked_out or b"HEAD" in request_bytes
    )
    if b"HEAD" not in request_bytes:
        assert protocol.send_data(b"abcdef") == (b"6\r\nabcdef\r\n" if chunked_out else b"abcdef")


def test_content_length_is_held_to() -> None:
    protocol = ready()
    protocol.send_response(200, [(b"content-length", b"3")], b"OK")
    with pytest.raises(LocalProtocolError):
        protocol.send_data(b"abcd")
    protocol.send_data(b"ab")
    with pytest.raises(LocalProtocolError):
        protocol.send_end()


@pytest.mark.parametrize(
    ("name", "value"), [(b"X", b"a\r\nSet-Cookie: x"), (b"X\r\nY", b"1"), (b"X", b"a\nb")]
)
def test_response_headers_cannot_split_the_response(name: bytes, value: bytes) -> None:
    protocol = ready()
    with pytest.raises(LocalProtocolError):
        protocol.send_response(200, [(name, value)], b"OK")
    assert protocol.our_state is http1.SEND_RESPONSE  # nothing went out: an error answer can


def test_connection_options_are_tokens_not_substrings() -> None:
    """RFC 9110 §7.6.1: ``x-no-close-please`` names a header; it does not close."""
    protocol = ready()
    head_bytes = protocol.send_response(
        200, [(b"content-length", b"0"), (b"Connection", b"x-no-close-please")], b"OK"
    )
    assert b"connection: close" not in head_bytes
    protocol.send_end()
    assert protocol.our_state is http1.DONE and protocol.keep_alive
    protocol = ready()
    protocol.send_response(200, [(b"content-length", b"0"), (b"Connection", b"Keep-Alive, CLOSE")])
    protocol.send_end()
    assert protocol.our_state is http1.MUST_CLOSE


def test_events_out_of_turn_are_refused() -> None:
    protocol = ServerProtocol()
    with pytest.raises(LocalProtocolError):
        protocol.send_end()
    with pytest.raises(LocalProtocolError):
        protocol.start_next_cycle()
    protocol = ready()
    with pytest.raises(LocalProtocolError):
        protocol.start_next_cycle()  # no response yet
    with pytest.raises(LocalProtocolError):
        protocol.send_response(103, [])  # informational: send_informational
    with pytest.raises(LocalProtocolError):
        protocol.send_informational(103, [])  # only 100 and 101
    answered(protocol)
    with pytest.raises(LocalProtocolError):
        protocol.send_response(200, [])  # one response per request
    protocol.send_failed()
    assert protocol.our_state is http1.ERROR and not protocol.keep_alive


# --- against h11 -------------------------------------------------------------------------


def h11_reads(data: bytes) -> tuple[tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]], bytes]:
    """What h11 makes of one request: its head and body."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    conn.receive_data(b"")
    request = conn.next_event()
    assert isinstance(request, h11.Request)
    body = b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            assert isinstance(event, h11.EndOfMessage)
            break
    return (
        request.method,
        request.target,
        request.http_version,
        _unframed(request.headers.raw_items()),
    ), body


def ours_reads(data: bytes) -> tuple[tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]], bytes]:
    """What we make of it, the same every way (ProtocolError if refused)."""
    found = read_every_way(ServerProtocol, data)
    request = found[0]
    assert isinstance(request, RequestHead) and EOM in found
    body = b"".join(e for e in found if isinstance(e, bytes))
    return (request.method, request.target, request.http_version, _unframed(request.headers)), body


def _unframed(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Without the framing headers, whose values h11 rewrites (``3, 3`` -> ``3``,
    ``Chunked`` -> ``chunked``): the body read shows the framing agreed."""
    return [
        (n, v) for n, v in headers if n.lower() not in (b"content-length", b"transfer-encoding")
    ]


_token = st.text("abcXYZ-_!#09", min_size=1, max_size=8).map(str.encode)
_value = st.text("ab c\t:;=,/\x01\x7f\xe9\r\n ", max_size=12).map(lambda s: s.encode("latin-1"))
_field = st.tuples(_token, st.sampled_from([b":", b": ", b" :", b":\t"]), _value)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"P@T", b"OPTIONS"]))
    target = draw(st.sampled_from([b"/", b"/a?b", b"*", b"/\xe9", b"/a b"]))
    version = draw(st.sampled_from([b"1.1", b"1.0", b"2.0"]))
    fields = draw(st.lists(_field, max_size=4))
    framing = draw(
        st.sampled_from(
            [
                b"",
                b"Content-Length: 3\r\n",
                b"Transfer-Encoding: chunked\r\n",
                b"Content-Length: 03\r\n",
                b"Content-Length: 3, 3\r\n",
                b"Transfer-Encoding: Chunked\r\n",
            ]
        )
    )
    host = draw(st.sampled_from([b"Host: h\r\n", b"", b"Host: h\r\nHost: i\r\n"]))
    body = draw(st.sampled_from([b"abc", b"3\r\nabc\r\n0\r\n\r\n", b"1\r\na\r\n0\r\n\r\n"]))
    head_bytes = b"%s %s HTTP/%s\r\n" % (method, target, version)
    head_bytes += host + framing + b"".join(n + sep + v + b"\r\n" for n, sep, v in fields)
    return head_bytes + b"\r\n" + body


@settings(max_examples=400, deadline=None, derandomize=True)
@given(requests())
def test_whatever_we_accept_h11_reads_the_same(data: bytes) -> None:
    try:
        ours = ours_reads(data)
    except ProtocolError:
        return  # stricter than h11 is allowed
    assert ours == h11_reads(data)
