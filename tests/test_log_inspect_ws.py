"""--inspect-ws's decoder on its own (sans-I/O): whole input, byte by byte, trailing data,
fragments, control frames, permessage-deflate, and input that is not WebSocket at all."""

from __future__ import annotations

import io

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameProtocol

from compute_emu.inspect_ws import DOWN, UP, WsInspector
from compute_emu.log import RequestLog


def _client_frames(deflate: bool = False) -> bytes:
    """What a browser sends: masked frames."""
    extensions = []
    if deflate:
        ext = PerMessageDeflate()
        ext.finalize("permessage-deflate")
        extensions.append(ext)
    sender = FrameProtocol(True, extensions)  # type: ignore[arg-type]
    return b"".join(
        [
            sender.send_data("ping"),
            sender.send_data(b"\x00\x01bin", fin=True),
            sender.send_data("frag", fin=False),
            sender.send_data("mented", fin=True),
            sender.ping(b"are you there"),
            sender.close(CloseReason.NORMAL_CLOSURE, "bye"),
        ]
    )


def _inspector(extensions: str | None = None) -> tuple[WsInspector, io.StringIO]:
    out = io.StringIO()
    return WsInspector(RequestLog(out, io.StringIO(), colour=False), 4, extensions), out


EXPECTED = [
    "#4 ws ↑ text 4B 'ping'",
    "#4 ws ↑ binary 5B '\\x00\\x01bin'",
    "#4 ws ↑ text 10B 'fragmented'",
    "#4 ws ↑ ping 13B 'are you there'",
    "#4 ws ↑ close 1000 3B 'bye'",
]


def test_whole_input():
    inspector, out = _inspector()
    inspector(UP, _client_frames())
    assert out.getvalue().splitlines() == EXPECTED
    assert inspector.messages == (5, 0)


def test_byte_by_byte():
    inspector, out = _inspector()
    for byte in _client_frames():
        inspector(UP, bytes([byte]))
    assert out.getvalue().splitlines() == EXPECTED


def test_trailing_partial_frame_waits_for_the_rest():
    inspector, out = _inspector()
    data = _client_frames()
    first = FrameProtocol(True, []).send_data("ping")
    inspector(UP, data[: len(first) + 3])  # one frame and the start of the next
    assert out.getvalue().splitlines() == EXPECTED[:1]
    inspector(UP, data[len(first) + 3 :])
    assert out.getvalue().splitlines() == EXPECTED


def test_server_frames_are_unmasked_and_logged_as_down():
    inspector, out = _inspector()
    inspector(DOWN, FrameProtocol(False, []).send_data("hello from the origin"))
    assert out.getvalue() == "#4 ws ↓ text 21B 'hello from the origin'\n"
    assert inspector.messages == (0, 1)


def test_permessage_deflate_is_undone():
    inspector, out = _inspector("permessage-deflate")
    inspector(UP, _client_frames(deflate=True))
    assert out.getvalue().splitlines() == EXPECTED


def test_input_that_is_not_websocket_stops_that_direction_with_one_note():
    inspector, out = _inspector()
    inspector(UP, b"GET / HTTP/1.1\r\n\r\n")  # unmasked, reserved bits set...
    inspector(UP, _client_frames())  # ...and nothing after it is decoded
    inspector(DOWN, FrameProtocol(False, []).send_data("still fine"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "ws ↑ not decoded from here on" in lines[0]
    assert lines[1] == "#4 ws ↓ text 10B 'still fine'"


def test_a_ping_between_fragments_is_its_own_message():
    inspector, out = _inspector()
    sender = FrameProtocol(True, [])
    inspector(UP, sender.send_data("frag", fin=False) + sender.ping(b"!"))
    inspector(UP, sender.send_data("mented", fin=True))
    assert out.getvalue().splitlines() == ["#4 ws ↑ ping 1B '!'", "#4 ws ↑ text 10B 'fragmented'"]
