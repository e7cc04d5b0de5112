"""FrameCounter (compute_emu/rules/ws_frames.py): WebSocket messages counted from frame headers
alone; whole input, byte by byte, headers split across reads, trailing data, not WebSocket."""

from __future__ import annotations

import itertools
import random

import pytest
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameProtocol

from compute_emu.rules.ws_frames import FrameCounter


def frames(client: bool) -> bytes:
    """4 messages (one of 3 fragments) and 2 control frames, as wsproto writes them
    (``client``: masked, as a browser sends them)."""
    proto = FrameProtocol(client=client, extensions=[])
    return b"".join(
        [
            proto.send_data("hello", fin=True),
            proto.send_data(b"\x00" * 200, fin=True),  # 16-bit length
            proto.send_data(b"x" * 70_000, fin=True),  # 64-bit length
            proto.send_data("part one ", fin=False),
            proto.ping(b"are you there"),  # a control frame between fragments
            proto.send_data("part two ", fin=False),
            proto.send_data("", fin=True),  # an empty last fragment
            proto.close(CloseReason.NORMAL_CLOSURE, "bye"),
        ]
    )


def count(pieces: list[bytes]) -> FrameCounter:
    counter = FrameCounter()
    for piece in pieces:
        counter.feed(piece)
    return counter


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("client", [True, False], ids=["masked", "unmasked"])
def test_whole_input(client):
    counter = count([frames(client)])
    assert (counter.messages, counter.controls, counter.broken) == (4, 2, False)


@pytest.mark.parametrize("client", [True, False], ids=["masked", "unmasked"])
def test_byte_by_byte(client):
    data = frames(client)
    counter = count([data[i : i + 1] for i in range(len(data))])
    assert (counter.messages, counter.controls, counter.broken) == (4, 2, False)


@pytest.mark.parametrize("client", [True, False], ids=["masked", "unmasked"])
def test_every_split_through_the_headers(client):
    """Each cut inside the first frames' headers and payloads, and around the big frame's."""
    data = frames(client)
    big_start = len(FrameProtocol(client=client, extensions=[]).send_data("hello", fin=True))
    big_start += 2 + 2 + (4 if client else 0) + 200
    cuts = [*range(1, big_start + 20), *range(len(data) - 80, len(data))]
    for cut in cuts:
        counter = count(split(data, [cut]))
        assert (counter.messages, counter.controls, counter.broken) == (4, 2, False), cut


def test_random_reads():
    data = frames(True)
    rng = random.Random(1)
    for _ in range(200):
        cuts = [rng.randrange(1, len(data)) for _ in range(rng.randrange(1, 12))]
        counter = count(split(data, cuts))
        assert (counter.messages, counter.controls) == (4, 2), cuts


def test_trailing_data_a_header_split_at_the_end_counts_once_complete():
    proto = FrameProtocol(client=True, extensions=[])
    first, second = proto.send_data("one", fin=True), proto.send_data(b"y" * 300, fin=True)
    counter = FrameCounter()
    counter.feed(first + second[:3])  # the second header's first 3 of 8 bytes
    assert counter.messages == 1
    counter.feed(second[3:5])
    assert counter.messages == 1  # still 2 bytes of its mask key to come
    counter.feed(second[5:] + first)
    assert (counter.messages, counter.broken) == (3, False)


def test_a_payload_ending_exactly_at_a_read_boundary():
    proto = FrameProtocol(client=False, extensions=[])
    message = proto.send_data(b"z" * 1000, fin=True)
    counter = count([message[:500], message[500:], message, b""])
    assert (counter.messages, counter.broken) == (2, False)


def test_compressed_messages_are_counted_like_others():
    deflate = PerMessageDeflate()
    deflate.finalize("permessage-deflate")
    proto = FrameProtocol(client=False, extensions=[deflate])
    data = proto.send_data("compressible " * 100, fin=True) + proto.send_data("b", fin=True)
    assert data[0] & 0x40  # RSV1: compressed
    assert count([data]).messages == 2


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\n\r\n",  # not WebSocket at all
        b"\x83\x00",  # a reserved data opcode
        b"\x09\x00",  # a fragmented ping
        b"\x89\x7e\x00\x80" + b"p" * 128,  # a ping longer than 125 bytes
        b"\x82\x7f\x80" + b"\x00" * 7,  # a 64-bit length with its top bit set
    ],
)
def test_not_websocket_framing_stops_the_count(data):
    proto = FrameProtocol(client=False, extensions=[])
    counter = count([proto.send_data("ok", fin=True), data, proto.send_data("again", fin=True)])
    assert counter.broken
    assert counter.messages == 1  # what came before, and nothing after


def test_not_websocket_framing_byte_by_byte():
    data = b"GET / HTTP/1.1\r\n"
    counter = count([data[i : i + 1] for i in range(len(data))])
    assert counter.broken and counter.messages == 0
