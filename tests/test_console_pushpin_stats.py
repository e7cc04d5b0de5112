"""Pushpin's stats messages (compute_emu.pushpin.tnetstring, .stats) and GRIP answers
(compute_emu.rules.grip), on the bytes Pushpin 1.36 sends (captured on loopback)."""

from __future__ import annotations

import pytest

from compute_emu.pushpin import tnetstring
from compute_emu.pushpin.config import stats_address
from compute_emu.pushpin.stats import (
    Delivery,
    HeldConnection,
    StatsError,
    Subscription,
    parse_stats,
)
from compute_emu.rules.grip import grip_hold

# As captured from pushpin-handler 1.36.0 (compute-emu's generated config).
SUB = (
    b"sub T95:3:ttl,2:60#7:channel,4:test,4:mode,6:stream,11:subscribers,1:3#"
    b"4:from,21:pushpin-handler_21886,}"
)
SUB_GONE = (
    b"sub T87:7:channel,4:test,4:mode,6:stream,11:unavailable,4:true!"
    b"4:from,21:pushpin-handler_21886,}"
)
CONN = (
    b"conn T123:3:ttl,3:120#5:route,4:self,4:type,4:http,2:id,13:condure:1-0-1,"
    b"12:peer-address,9:127.0.0.1,4:from,21:pushpin-handler_21886,}"
)
CONN_GONE = (
    b"conn T76:11:unavailable,4:true!2:id,13:condure:1-1-2,4:from,21:pushpin-handler_21886,}"
)
MESSAGE = (
    b"message T88:7:channel,4:test,5:count,1:3#9:transport,11:http-stream,"
    b"4:from,21:pushpin-handler_21886,}"
)
REPORT = b"counts T57:17:requests-received,1:3#4:from,21:pushpin-handler_21886,}"


def test_tnetstring_values() -> None:
    assert tnetstring.decode(b"5:hello,") == b"hello"
    assert tnetstring.decode(b"0:,") == b""
    assert tnetstring.decode(b"2:42#") == 42
    assert tnetstring.decode(b"3:1.5^") == 1.5
    assert tnetstring.decode(b"4:true!") is True
    assert tnetstring.decode(b"5:false!") is False
    assert tnetstring.decode(b"0:~") is None
    assert tnetstring.decode(b"11:1:a,4:1:b,]]") == [b"a", [b"b"]]
    assert tnetstring.decode(b"15:1:a,1:1#1:b,0:~}") == {b"a": 1, b"b": None}
    assert tnetstring.decode(b"0:}") == {}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "no length"),
        (b"x:a,", "no length"),
        (b"5:abc,", "runs past the end"),
        (b"3:abc", "runs past the end"),
        (b"3:abc?", "unknown type tag"),
        (b"2:4x#", "bad integer"),
        (b"3:yes!", "bad boolean"),
        (b"1:x~", "null with a payload"),
        (b"4:1:a,}", "a key and no value"),
        (b"8:1:1#1:a,}", "not a string"),
        (b"5:hello,x", "1 bytes after the value"),
        (b"6:1:ab,]", "runs past the end"),  # an element longer than its container
        (b"99999999999:", "no length"),
    ],
)
def test_tnetstring_errors(data: bytes, problem: str) -> None:
    with pytest.raises(tnetstring.TnetstringError, match=problem):
        tnetstring.decode(data)


def test_tnetstring_nesting_is_bounded() -> None:
    data = b"0:]"
    for _ in range(40):
        data = f"{len(data)}:".encode() + data + b"]"
    with pytest.raises(tnetstring.TnetstringError, match="nested too deeply"):
        tnetstring.decode(data)


def test_stats_messages() -> None:
    assert parse_stats(SUB) == Subscription("test", "stream", 3, 60.0)
    assert parse_stats(SUB_GONE) == Subscription("test", "stream", 0, None, gone=True)
    assert parse_stats(CONN) == HeldConnection("condure:1-0-1", "http", "self", 120.0)
    assert parse_stats(CONN_GONE) == HeldConnection("condure:1-1-2", "", "", None, gone=True)
    assert parse_stats(MESSAGE) == Delivery("test", 3, "http-stream")
    assert parse_stats(REPORT) is None  # not read


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (b"sub", "without a tnetstring body"),
        (b"sub J{}", "without a tnetstring body"),
        (b"sub T3:abc", "runs past the end"),
        (b"sub T5:hello,", "not a dictionary"),
        (b"sub T11:4:mode,1:x,}", "'channel' is None"),
        (b"message T29:7:channel,4:test,5:count,1:x,}", "'count' is b'x'"),
    ],
)
def test_stats_errors(message: bytes, problem: str) -> None:
    with pytest.raises(StatsError, match=problem):
        parse_stats(message)


def test_stats_address_is_the_configured_spec() -> None:
    assert stats_address("/tmp/ce-pp-x/run") == "ipc:///tmp/ce-pp-x/run/pushpin-stats"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("Grip-Hold", b"stream"), ("Grip-Channel", b"test")], ("stream", ("test",))),
        (
            [("grip-hold", b"Response"), ("Grip-Channel", b'a; prev-id=3, "b" ,a')],
            ("response", ("a", "b")),
        ),
        (
            [("Grip-Channel", b"one"), ("Grip-Hold", b"stream"), ("Grip-Channel", b"two")],
            ("stream", ("one", "two")),
        ),
        ([("Grip-Hold", b"stream")], ("stream", ())),
        ([("Grip-Hold", b"forever"), ("Grip-Channel", b"x")], None),
        ([("Grip-Channel", b"x")], None),
        ([("Content-Type", b"text/plain")], None),
    ],
)
def test_grip_hold(
    headers: list[tuple[str, bytes]], expected: tuple[str, tuple[str, ...]] | None
) -> None:
    assert grip_hold(headers) == expected


def test_read_stats_reads_the_kinds_it_knows_from_the_socket(tmp_path) -> None:
    """read_stats on a real ZeroMQ PUB socket: the kinds it reads arrive in order (more than
    one batch of them at once), the others are filtered out, a bad one is told once."""
    import anyio
    import zmq

    from compute_emu.pushpin.stats import BATCH, read_stats

    address = f"ipc://{tmp_path}/stats"
    context = zmq.Context()
    publisher = context.socket(zmq.PUB)
    publisher.setsockopt(zmq.LINGER, 0)
    publisher.setsockopt(zmq.SNDHWM, 0)
    publisher.bind(address)
    got: list[object] = []
    errors: list[str] = []
    burst = [CONN, REPORT, CONN_GONE] * BATCH + [b"sub T3:abc", b"sub T3:abc", MESSAGE]

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_stats, address, got.append, errors.append)
            with anyio.fail_after(10):  # the subscription reaches the publisher in a while
                while not got:
                    publisher.send(SUB)
                    await anyio.sleep(0.01)
            got.clear()
            for message in burst:
                publisher.send(message)
            with anyio.fail_after(10):
                while not got or got[-1] != Delivery("test", 3, "http-stream"):
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()

    try:
        anyio.run(main)
    finally:
        publisher.close(0)
        context.term()
    conn = HeldConnection("condure:1-0-1", "http", "self", 120.0)
    gone = HeldConnection("condure:1-1-2", "", "", None, gone=True)
    assert [m for m in got if not isinstance(m, Subscription)] == [conn, gone] * BATCH + [
        Delivery("test", 3, "http-stream")
    ]
    assert errors == ["a Pushpin stats message could not be read: sub message: the value at "
                      "byte 0 runs past the end"]  # fmt: skip
