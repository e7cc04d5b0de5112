"""The chunked-body scanner: whole input, byte by byte, other splits, trailing data, errors."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import h11
import pytest

from compute_emu.rules.chunked import ChunkedError, ChunkedScanner
from tests.support.sans_io import byte_by_byte, random_pieces, whole

Split = Callable[[bytes], Iterator[bytes]]
SPLITS = [whole, byte_by_byte, random_pieces]


def scan(data: bytes, split: Split) -> tuple[ChunkedScanner, bytes, bytes, bytes]:
    """Feed ``data`` in pieces: (scanner, body bytes, payload via spans, trailing bytes)."""
    scanner = ChunkedScanner()
    body, payload, trailing = bytearray(), bytearray(), bytearray()
    for piece in split(data):
        spans: list[tuple[int, int]] = []
        n = scanner.feed(piece, spans)
        assert 0 <= n <= len(piece)
        if n < len(piece):
            assert scanner.done  # only the end of the body stops the scan early
        body += piece[:n]
        trailing += piece[n:]
        for start, end in spans:
            assert 0 <= start < end <= n
            payload += piece[start:end]
    return scanner, bytes(body), bytes(payload), bytes(trailing)


def h11_payload(body: bytes) -> bytes:
    """What h11 itself reads from the same body (the reference)."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    out = bytearray()
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Data):
            out += event.data
        elif isinstance(event, h11.EndOfMessage):
            return bytes(out)
        elif event is h11.NEED_DATA:
            raise AssertionError("h11 wants more")


VALID = [
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\n",
    b"a\r\n0123456789\r\n0000\r\n\r\n",
    b"5;name=value;flag\r\nhello\r\n0;last\r\n\r\n",
    b"5 \r\nhello\r\n0\t\r\n\r\n",  # h11 allows trailing whitespace after the size
    b"5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum: 1 2\t3\r\n\r\n",
    b"3\r\n\r\n\r\r\n0\r\n\r\n",  # CR and LF inside chunk data are just data
    b"00000000000000000005\r\nhello\r\n0\r\n\r\n",  # 20 digits
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("body", VALID)
def test_valid_bodies_end_where_h11_says(body: bytes, split: Split) -> None:
    scanner, seen, payload, trailing = scan(body, split)
    assert scanner.done
    assert seen == body
    assert trailing == b""
    assert payload == h11_payload(body)
    assert scanner.wire_bytes == len(body)
    assert scanner.payload_bytes == len(payload)
    scanner.feed_eof()  # ended: no error


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(
    "after", [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"\r\n", b"0\r\n\r\n", b"x"]
)
def test_trailing_data_is_not_part_of_the_body(after: bytes, split: Split) -> None:
    body = b"5\r\nhello\r\n0\r\nA: b\r\n\r\n"
    scanner, seen, payload, trailing = scan(body + after, split)
    assert scanner.done
    assert seen == body
    assert payload == b"hello"
    assert trailing == after
    assert scanner.wire_bytes == len(body)
    assert scanner.feed(b"more") == 0  # after the end, nothing belongs to the body


def test_a_large_chunk_is_counted_not_copied() -> None:
    data = b"x" * 300_000
    scanner = ChunkedScanner()
    assert scanner.feed(b"493e0\r\n") == 7
    spans: list[tuple[int, int]] = []
    assert scanner.feed(data, spans) == len(data)
    assert spans == [(0, len(data))]
    assert not scanner.done
    assert scanner.feed(b"\r\n0\r\n\r\nNEXT") == 7
    assert scanner.done
    assert scanner.payload_bytes == len(data)


def test_incomplete_body_is_not_done_and_fails_at_eof() -> None:
    for cut in (
        b"",
        b"5",
        b"5\r",
        b"5\r\nhel",
        b"5\r\nhello\r",
        b"5\r\nhello\r\n0\r\n",
        b"0\r\nA: b",
    ):
        scanner = ChunkedScanner()
        assert scanner.feed(cut) == len(cut)
        assert not scanner.done
        with pytest.raises(ChunkedError):
            scanner.feed_eof()


INVALID = [
    b"5\r\nhelloXY0\r\n\r\n",  # data must end in CRLF (h11 < 0.16 took any two bytes)
    b"5\r\nhello\n0\r\n\r\n",  # ...exactly CRLF, not a bare LF
    b"5\r\nhello\rX",  # ...not CR and something else
    b"5\r\nhello\r\n\r\n",  # an empty size line
    b"5\nhello\r\n0\r\n\r\n",  # a size line ends in CRLF, not LF
    b"g\r\n",  # not hex
    b"-5\r\n",
    b"+5\r\n",
    b"0x5\r\n",
    b" 5\r\n",  # leading whitespace
    b"5 ;ext\r\n",  # whitespace before the extension (h11 refuses it too)
    b"5;ext\x00\r\n",  # control characters in an extension
    b"5;a\rb\r\n",
    b"000000000000000000001\r\nx\r\n0\r\n\r\n",  # 21 digits
    b"0\r\nno colon\r\n\r\n",  # trailer line
    b"0\r\nBad Name: x\r\n\r\n",
    b"0\r\nA: b\r\n folded\r\n\r\n",  # obs-fold
    b"0\r\nA: b\nC: d\r\n\r\n",  # a bare LF in the trailer section
    b"0\r\n\n",  # h11 takes a bare LF as the end of the trailers: we do not
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("body", INVALID)
def test_invalid_framing_is_an_error(body: bytes, split: Split) -> None:
    scanner = ChunkedScanner()
    with pytest.raises(ChunkedError):
        for piece in split(body):
            scanner.feed(piece)
        scanner.feed_eof()  # a few only show as "never ended"
    with pytest.raises(ChunkedError):  # and it stays failed
        scanner.feed(b"0\r\n\r\n")


@pytest.mark.parametrize("split", SPLITS)
def test_size_line_length_is_bounded(split: Split) -> None:
    ok = b"5;" + b"e" * 98 + b"\r\nhello\r\n0\r\n\r\n"  # a 100-byte size line
    scanner = ChunkedScanner(max_line=100)
    for piece in split(ok):
        scanner.feed(piece)
    assert scanner.done

    scanner = ChunkedScanner(max_line=100)
    with pytest.raises(ChunkedError, match="longer than 100"):
        for piece in split(b"5;" + b"e" * 99 + b"\r\n"):
            scanner.feed(piece)


def test_oversized_size_line_fails_before_its_end_arrives() -> None:
    scanner = ChunkedScanner(max_line=100)
    with pytest.raises(ChunkedError):
        scanner.feed(b"5;" + b"e" * 200)  # no CRLF yet, but already too long


@pytest.mark.parametrize("split", SPLITS)
def test_trailer_section_is_bounded(split: Split) -> None:
    trailers = b"A: " + b"v" * 40 + b"\r\n"  # 45 bytes
    ok = b"0\r\n" + trailers * 2 + b"\r\n"  # 92 bytes of trailer section
    scanner = ChunkedScanner(max_trailers=92)
    for piece in split(ok):
        scanner.feed(piece)
    assert scanner.done

    scanner = ChunkedScanner(max_trailers=91)
    with pytest.raises(ChunkedError, match="trailer section longer"):
        for piece in split(ok):
            scanner.feed(piece)


def test_split_crlf_at_every_boundary() -> None:
    body = b"5\r\nhello\r\n0\r\nA: b\r\n\r\n"
    for cut in range(1, len(body)):
        scanner = ChunkedScanner()
        assert scanner.feed(body[:cut]) == cut
        assert scanner.feed(body[cut:] + b"TAIL") == len(body) - cut
        assert scanner.done


def h11_end(data: bytes) -> int | None:
    """Where h11 says the chunked body in ``data`` ends (None: invalid or incomplete)."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + data)
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.EndOfMessage):
                return len(data) - len(conn.trailing_data[0])
            if event is h11.NEED_DATA:
                return None
    except h11.RemoteProtocolError:
        return None


def test_whatever_the_scanner_accepts_h11_accepts_with_the_same_end() -> None:
    """Mutated bodies (differential): accepting less than h11 is fine, more or elsewhere not."""
    rng = random.Random(8)
    alphabet = b"0123456789abcdefABCDEFgx;= \t\r\n:A"
    accepted = 0
    for _ in range(3000):
        data = bytearray(rng.choice(VALID) + b"NEXT")
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(data))
            op = rng.randrange(3)
            if op == 0:
                data[i] = rng.choice(alphabet)
            elif op == 1:
                data.insert(i, rng.choice(alphabet))
            else:
                del data[i]
        scanner = ChunkedScanner()
        try:
            n = scanner.feed(bytes(data))
        except ChunkedError:
            continue
        if scanner.done:
            accepted += 1
            assert h11_end(bytes(data)) == n, bytes(data)
    assert accepted > 100  # the test did exercise acceptance
