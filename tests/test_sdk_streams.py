"""The SDK's own body streams and framing rule, without sockets: gunzip (whole, byte by byte,
two members, trailing garbage), the upload pipe of send_async_streaming, manual framing."""

from __future__ import annotations

import gc
import gzip
import threading

import pytest

from compute_emu.rules.framing import manual_framing
from compute_emu.runtime.upload import UploadPipe, UploadWriter
from compute_emu.sdk._body_streams import GunzipStream
from compute_emu.sdk._interface import BodyParts

TEXT = b"hello, world!\n" * 100


class Chunks:
    def __init__(self, data: bytes, size: int) -> None:
        self.parts = [data[i : i + size] for i in range(0, len(data), size)]

    def read_chunk(self) -> bytes:
        return self.parts.pop(0) if self.parts else b""


def read_all(stream: GunzipStream) -> bytes:
    out = b""
    while chunk := stream.read_chunk():
        out += chunk
    return out


@pytest.mark.parametrize("size", [1, 7, 1 << 16])
def test_gunzip_whole_and_in_pieces(size: int) -> None:
    packed = gzip.compress(TEXT)
    assert read_all(GunzipStream(b"", Chunks(packed, size))) == TEXT
    assert read_all(GunzipStream(packed[:3], Chunks(packed[3:], size))) == TEXT


def test_gunzip_two_members_and_garbage() -> None:
    two = gzip.compress(b"one ") + gzip.compress(b"two")
    assert read_all(GunzipStream(two, None)) == b"one two"
    with pytest.raises(ValueError, match="gzip body is invalid"):
        read_all(GunzipStream(gzip.compress(b"x") + b"not gzip", None))


def test_upload_pipe_sends_the_body_first_then_the_writes() -> None:
    pipe = UploadPipe(BodyParts(b"first,", Chunks(b"then,", 2)))
    got: list[bytes] = []

    def reader() -> None:
        while chunk := pipe.read_chunk():
            got.append(chunk)

    thread = threading.Thread(target=reader)
    thread.start()
    pipe.write(b"second,")
    pipe.write(b"")  # nothing to send
    pipe.write(b"third")
    pipe.finish()
    pipe.finish()  # idempotent
    thread.join(5)
    assert b"".join(got) == b"first,then,second,third"
    with pytest.raises(RuntimeError):
        pipe.write(b"late")


def test_an_upload_dropped_unfinished_fails_the_reader() -> None:
    pipe = UploadPipe()
    pipe.write(b"part")
    pipe.abort()
    assert pipe.read_chunk() == b"part"
    with pytest.raises(BrokenPipeError):
        pipe.read_chunk()
    pipe.abort()  # once only


def test_an_upload_writer_dropped_unfinished_aborts_the_upload() -> None:
    finished, dropped = UploadPipe(), UploadPipe()
    writer = UploadWriter(finished)
    writer.write(b"all")
    writer.finish()
    assert writer.finished
    del writer
    UploadWriter(dropped).write(b"part")
    gc.collect()
    assert not finished.aborted and dropped.aborted
    assert finished.read_chunk() == b"all" and finished.read_chunk() == b""
    assert dropped.read_chunk() == b"part"
    with pytest.raises(BrokenPipeError):
        dropped.read_chunk()


@pytest.mark.parametrize(
    ("headers", "length", "expected"),
    [
        ([("content-length", b"5")], 5, ("content-length", b"5")),
        ([("content-length", b"5")], None, ("content-length", b"5")),  # streaming
        ([("content-length", b"9")], 5, None),  # wrong: automatic
        ([("content-length", b"5"), ("content-length", b"5")], 5, None),
        ([("content-length", b"x")], 5, None),
        ([("transfer-encoding", b"chunked")], 5, ("transfer-encoding", b"chunked")),
        ([("transfer-encoding", b"gzip, chunked")], 5, None),
        ([("transfer-encoding", b"chunked"), ("content-length", b"5")], 5, None),
        ([], 5, None),
    ],
)
def test_manual_framing_keeps_only_valid_headers(
    headers: list[tuple[str, bytes]], length: int | None, expected: tuple[str, bytes] | None
) -> None:
    assert manual_framing(headers, length) == expected
    assert manual_framing([(n.upper(), v) for n, v in headers], length) == expected
