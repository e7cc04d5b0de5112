"""The front door's HTTP/1.1 rules (``rules/http1_server.py``), h11-style: whole input, byte
by byte, trailing data; and against h11 itself: whatever this accepts, h11 reads the same way."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compute_emu.rules import http1_server as http1
from compute_emu.rules.http1_server import LocalProtocolError, ProtocolError, ServerProtocol

GET = b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"


def events(protocol: ServerProtocol, data: bytes, *, by_byte: bool = False) -> list[object]:
    """Feed ``data`` (whole or a byte at a time; ``b""``: the client closed) and collect
    events up to PAUSED."""
    out: list[object] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if by_byte else [data]
    for index, piece in enumerate([*pieces, None]):
        if piece is not None:
            protocol.receive_data(piece)
        while True:
            event = protocol.next_event()
            if event is http1.NEED_DATA:
                break
            out.append(event)
            if event in (http1.PAUSED, http1.CONNECTION_CLOSED):
                for rest in pieces[index + 1 :]:  # the bytes after this request, as they come
                    protocol.receive_data(rest)
                return out
    return out


def body_of(found: list[object]) -> bytes:
    return b"".join(e for e in found if isinstance(e, bytes))


@pytest.mark.parametrize("by_byte", [False, True])
def test_a_get_whole_or_byte_by_byte(by_byte: bool) -> None:
    protocol = ServerProtocol()
    found = events(protocol, GET, by_byte=by_byte)
    head = found[0]
    assert isinstance(head, http1.RequestHead)
    assert (head.method, head.target, head.http_version) == (b"GET", b"/a?b=1", b"1.1")
    assert head.headers == [(b"Host", b"example.com"), (b"User-Agent", b"t")]
    assert found[1:] == [http1.END_OF_MESSAGE, http1.PAUSED]
    assert protocol.their_state is http1.DONE and protocol.our_state is http1.SEND_RESPONSE


def test_response_and_keep_alive_cycle() -> None:
    protocol = ServerProtocol()
    events(protocol, GET)
    head = protocol.send_response(200, [(b"content-length", b"2")], b"OK")
    assert head == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
    assert protocol.send_data(b"hi") == b"hi"
    assert protocol.send_end() == b""
    protocol.start_next_cycle()
    assert events(protocol, GET)[-1] is http1.PAUSED


@pytest.mark.parametrize("by_byte", [False, True])
def test_pipelined_requests_stay_for_the_next_cycle(by_byte: bool) -> None:
    protocol = ServerProtocol()
    found = events(
        protocol,
        GET + b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
        by_byte=by_byte,
    )
    assert found[-1] is http1.PAUSED
    assert protocol.trailing_data.startswith(b"POST /p")
    protocol.send_response(204, [])
    protocol.send_end()
    protocol.start_next_cycle()
    found = events(protocol, b"")
    assert isinstance(found[0], http1.RequestHead) and found[0].method == b"POST"
    assert body_of(found) == b"abc"


@pytest.mark.parametrize("by_byte", [False, True])
def test_content_length_body_and_trailing_bytes(by_byte: bool) -> None:
    protocol = ServerProtocol()
    data = b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloEXTRA"
    found = events(protocol, data, by_byte=by_byte)
    assert body_of(found) == b"hello"
    assert protocol.trailing_data == b"EXTRA"


@pytest.mark.parametrize("by_byte", [False, True])
def test_chunked_body_with_extensions_and_trailers(by_byte: bool) -> None:
    protocol = ServerProtocol()
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-Sum: 1\r\n\r\nNEXT"
    )
    found = events(protocol, data, by_byte=by_byte)
    assert body_of(found) == b"hello!"
    assert found[-2:] == [http1.END_OF_MESSAGE, http1.PAUSED]
    assert protocol.trailing_data == b"NEXT"


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"5\r\nhelloXX", "CRLF"), (b"zz\r\n", "size"), (b"5\nhello\r\n0\r\n\r\n", "LF")],
)
def test_bad_chunked_bodies_are_400(body: bytes, why: str) -> None:
    protocol = ServerProtocol()
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    with pytest.raises(ProtocolError) as caught:
        events(protocol, head + body)
    assert caught.value.status == 400
    assert protocol.their_state is http1.ERROR and not protocol.keep_alive


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\nHost: h\r\n\r\n", 400),  # bare LF
        (b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),  # bare CR
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),  # space before the colon
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400),  # a control character
        (b"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # two Hosts
        (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # two spaces
        (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),  # not a token
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 05\r\n\r\n", 400),
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
    ],
)
def test_malformed_heads_are_refused(head: bytes, status: int) -> None:
    protocol = ServerProtocol()
    with pytest.raises(ProtocolError) as caught:
        events(protocol, head)
    assert caught.value.status == status
    assert protocol.their_state is http1.ERROR
    with pytest.raises(ProtocolError):  # and it stays refused
        protocol.next_event()
    # the error response can still go out, and closes the connection
    out = protocol.send_response(status, [(b"content-length", b"0")], b"Bad Request")
    assert out.endswith(b"connection: close\r\n\r\n")


def test_equal_content_lengths_are_one() -> None:
    protocol = ServerProtocol()
    data = b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok"
    assert body_of(events(protocol, data)) == b"ok"


def test_head_size_is_bounded_complete_or_not() -> None:
    protocol = ServerProtocol(max_head=1024)
    with pytest.raises(ProtocolError) as caught:
        events(protocol, b"GET / HTTP/1.1\r\nX: " + b"a" * 2000)
    assert caught.value.status == 431
    protocol = ServerProtocol(max_head=1024)
    with pytest.raises(ProtocolError) as caught:
        events(protocol, b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 1100 + b"\r\n\r\n")
    assert caught.value.status == 431


def test_leading_empty_lines_are_ignored() -> None:
    found = events(ServerProtocol(), b"\r\n\r\n" + GET)
    assert isinstance(found[0], http1.RequestHead)


def test_close_between_requests_and_inside_one() -> None:
    assert events(ServerProtocol(), b"") == [http1.CONNECTION_CLOSED]
    protocol = ServerProtocol()
    protocol.receive_data(b"GET / HT")
    protocol.receive_data(b"")
    with pytest.raises(ProtocolError):
        protocol.next_event()
    protocol = ServerProtocol()
    protocol.receive_data(b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc")
    assert isinstance(protocol.next_event(), http1.RequestHead)
    assert protocol.next_event() == b"abc"
    protocol.receive_data(b"")
    with pytest.raises(ProtocolError):
        protocol.next_event()
    assert protocol.peer_eof


@pytest.mark.parametrize(
    ("request_head", "keep_alive"),
    [
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n", False),
        (GET, True),
    ],
)
def test_keep_alive_and_connection_close(request_head: bytes, keep_alive: bool) -> None:
    protocol = ServerProtocol()
    events(protocol, request_head)
    assert protocol.keep_alive is keep_alive
    head = protocol.send_response(200, [(b"content-length", b"0")], b"OK")
    assert head.endswith(b"\r\n\r\n") and (b"connection: close" in head) is not keep_alive
    protocol.send_end()
    assert protocol.our_state is (http1.DONE if keep_alive else http1.MUST_CLOSE)
    assert protocol.their_state is (http1.DONE if keep_alive else http1.MUST_CLOSE)


def test_connection_options_are_tokens_not_substrings() -> None:
    """RFC 9110 §7.6.1: ``x-no-close-please`` names a header; it does not close."""
    protocol = ServerProtocol()
    events(protocol, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: x-no-close-please\r\n\r\n")
    assert protocol.keep_alive
    head = protocol.send_response(
        200, [(b"content-length", b"0"), (b"Connection", b"x-no-close-please")], b"OK"
    )
    assert b"connection: close" not in head
    protocol.send_end()
    assert protocol.our_state is http1.DONE and protocol.keep_alive
    protocol = ServerProtocol()
    events(protocol, GET)
    protocol.send_response(200, [(b"content-length", b"0"), (b"Connection", b"Keep-Alive, CLOSE")])
    protocol.send_end()
    assert protocol.our_state is http1.MUST_CLOSE


def test_response_framing_chosen_as_h11_does() -> None:
    protocol = ServerProtocol()  # HTTP/1.1, no framing given: chunked
    events(protocol, GET)
    head = protocol.send_response(200, [], b"OK")
    assert b"transfer-encoding: chunked\r\n" in head
    assert protocol.send_data(b"abc") == b"3\r\nabc\r\n"
    assert protocol.send_end() == b"0\r\n\r\n"

    protocol = ServerProtocol()  # HTTP/1.0 and chunked asked for: close-delimited
    events(protocol, b"GET / HTTP/1.0\r\n\r\n")
    head = protocol.send_response(200, [(b"transfer-encoding", b"chunked")], b"OK")
    assert b"transfer-encoding" not in head and b"connection: close" in head
    assert protocol.send_data(b"abc") == b"abc"

    protocol = ServerProtocol()  # HEAD: headers as given, no body
    events(protocol, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
    head = protocol.send_response(200, [(b"content-length", b"10")], b"OK")
    assert b"content-length: 10" in head
    with pytest.raises(LocalProtocolError):
        protocol.send_data(b"x")
    assert protocol.send_end() == b""


@pytest.mark.parametrize(
    ("request_bytes", "chunked_out"),
    [(GET, True), (b"GET / HTTP/1.0\r\n\r\n", False)],
)
def test_a_response_with_both_framings_goes_out_with_transfer_encoding_only(
    request_bytes: bytes, chunked_out: bool
) -> None:
    """RFC 9112 §6.2: never both; h11 keeps Transfer-Encoding (review §4 gap 3)."""
    protocol = ServerProtocol()
    events(protocol, request_bytes)
    headers = [(b"content-length", b"3"), (b"transfer-encoding", b"chunked")]
    head = protocol.send_response(200, headers, b"OK")
    assert b"content-length" not in head
    assert (b"transfer-encoding: chunked" in head) is chunked_out
    assert protocol.send_data(b"abcdef") == (b"6\r\nabcdef\r\n" if chunked_out else b"abcdef")


def test_content_length_is_held_to() -> None:
    protocol = ServerProtocol()
    events(protocol, GET)
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
    protocol = ServerProtocol()
    events(protocol, GET)
    with pytest.raises(LocalProtocolError):
        protocol.send_response(200, [(name, value)], b"OK")


def test_100_continue_and_101_switch() -> None:
    protocol = ServerProtocol()
    events(
        protocol, b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    )
    assert protocol.client_waits_for_100_continue
    assert protocol.send_informational(100, []) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert not protocol.client_waits_for_100_continue

    protocol = ServerProtocol()
    events(
        protocol,
        b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    )
    assert not protocol.client_waits_for_100_continue  # the body came anyway

    protocol = ServerProtocol()
    upgrade = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    events(protocol, upgrade + b"\x81\x05hello")
    out = protocol.send_informational(101, [(b"upgrade", b"websocket")])
    assert out == b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n"
    assert protocol.trailing_data == b"\x81\x05hello"
    assert protocol.next_event() is http1.PAUSED


# --- against h11 -------------------------------------------------------------------------


def h11_reads(data: bytes) -> tuple[tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]], bytes]:
    """What h11 makes of one request: its head and body."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    conn.receive_data(b"")
    head = conn.next_event()
    assert isinstance(head, h11.Request)
    body = b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            assert isinstance(event, h11.EndOfMessage)
            break
    raw = [(n, v) for n, v in head.headers.raw_items()]
    return (head.method, head.target, head.http_version, raw), body


def ours_reads(data: bytes) -> tuple[tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]], bytes]:
    protocol = ServerProtocol()
    found = events(protocol, data)
    if found[-1] is not http1.PAUSED:
        protocol.receive_data(b"")  # the client closed: an incomplete body is an error
        found.append(protocol.next_event())
    head = found[0]
    assert isinstance(head, http1.RequestHead)
    assert http1.END_OF_MESSAGE in found
    return (head.method, head.target, head.http_version, head.headers), body_of(found)


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
            ]
        )
    )
    host = draw(st.sampled_from([b"Host: h\r\n", b"", b"Host: h\r\nHost: i\r\n"]))
    body = draw(st.sampled_from([b"abc", b"3\r\nabc\r\n0\r\n\r\n", b"1\r\na\r\n0\r\n\r\n"]))
    head = b"%s %s HTTP/%s\r\n" % (method, target, version)
    head += host + framing + b"".join(n + sep + v + b"\r\n" for n, sep, v in fields)
    return head + b"\r\n" + body


@settings(max_examples=400, deadline=None)
@given(requests())
def test_whatever_we_accept_h11_reads_the_same(data: bytes) -> None:
    try:
        ours = ours_reads(data)
    except ProtocolError:
        return  # stricter than h11 is allowed
    assert ours == h11_reads(data)
