"""Unit tests for compute_emu.sdk._body (no I/O)."""

from __future__ import annotations

import pytest

from compute_emu.sdk import Body


class ListStream:
    """A BodyStream fed from a list of chunks; counts reads."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.reads = 0

    def read_chunk(self) -> bytes:
        self.reads += 1
        return self.chunks.pop(0) if self.chunks else b""


def test_constructors() -> None:
    assert Body().into_bytes() == b""
    assert Body(b"abc").into_bytes() == b"abc"
    assert Body(bytearray(b"abc")).into_bytes() == b"abc"
    assert Body("héllo").into_bytes() == "héllo".encode()
    assert Body().is_empty()
    assert not Body(b"x").is_empty()


def test_stream_is_lazy_and_read_once() -> None:
    stream = ListStream([b"ab", b"cd"])
    body = Body.from_stream(stream, prefix=b"<")
    assert stream.reads == 0
    assert not body.is_empty()
    assert body.known_length() is None
    assert repr(body) == "<Body streaming>"
    assert stream.reads == 0
    assert body.into_bytes() == b"<abcd"
    assert stream.reads == 3  # two chunks and the end
    assert body.into_bytes() == b""
    assert body.is_empty()


def test_into_string_strict_and_lossy() -> None:
    assert Body("ok").into_string() == "ok"
    with pytest.raises(UnicodeDecodeError):
        Body(b"\xff").into_string()
    assert Body(b"a\xffb").into_string_lossy() == "a\ufffdb"


def test_len_reads_stream() -> None:
    stream = ListStream([b"abc", b"de"])
    body = Body.from_stream(stream)
    assert len(body) == 5
    assert body.known_length() == 5
    assert repr(body) == "<Body 5 bytes>"


@pytest.mark.parametrize(
    ("chunks", "size", "expected"),
    [
        ([b"abcdefg"], 3, [b"abc", b"def", b"g"]),
        ([b"a", b"b", b"c", b"d"], 3, [b"abc", b"d"]),
        ([b"ab", b"cdef"], 2, [b"ab", b"cd", b"ef"]),
        ([b"abc"], 10, [b"abc"]),
        ([], 4, []),
    ],
)
def test_read_chunks_sizes(chunks: list[bytes], size: int, expected: list[bytes]) -> None:
    body = Body.from_stream(ListStream(chunks))
    assert list(body.read_chunks(size)) == expected
    assert body.into_bytes() == b""


def test_read_chunks_with_prefix_and_in_memory() -> None:
    assert list(Body(b"12345").read_chunks(2)) == [b"12", b"34", b"5"]
    body = Body.from_stream(ListStream([b"cd", b"e"]), prefix=b"ab")
    assert list(body.read_chunks(4)) == [b"abcd", b"e"]


def test_read_chunks_is_incremental() -> None:
    stream = ListStream([b"aa", b"bb", b"cc"])
    chunks = Body.from_stream(stream).read_chunks(2)
    assert stream.reads == 0  # a generator: nothing read yet
    assert next(chunks) == b"aa"
    assert stream.reads == 1
    assert list(chunks) == [b"bb", b"cc"]


def test_read_chunks_rejects_bad_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        list(Body(b"x").read_chunks(0))


def test_read_lines() -> None:
    body = Body.from_stream(ListStream([b"one\ntw", b"o\n", b"\nthree"]))
    assert list(body.read_lines()) == ["one\n", "two\n", "\n", "three"]
    assert list(Body(b"a\n").read_lines()) == ["a\n"]
    assert list(Body().read_lines()) == []


def test_detach() -> None:
    stream = ListStream([b"rest"])
    body = Body.from_stream(stream, prefix=b"head")
    data, detached = body.detach()
    assert data == b"head"
    assert detached is stream
    assert stream.reads == 0
    assert body.is_empty()
    assert body.into_bytes() == b""
    assert Body(b"mem").detach() == (b"mem", None)


def test_append_to_streaming_body() -> None:
    stream = ListStream([b"ab", b"cd"])
    body = Body.from_stream(stream)
    body.append(b"ef")
    body.append("gh")
    body.append(Body.from_stream(ListStream([b"ij"])))
    assert body.into_bytes() == b"abcdefghij"


def test_append_consumes_other_body() -> None:
    other = Body(b"x")
    body = Body(b"a")
    body.append(other)
    assert other.is_empty()
    assert body.into_bytes() == b"ax"


def test_write_bytes_and_str() -> None:
    body = Body()
    assert body.write_bytes(b"ab") == 2
    assert body.write_str("é") == 2
    assert body.into_string() == "abé"
