"""h11's ``tr()`` for the two HTTP/1.1 codecs: every reader case whole, byte by byte, in
random pieces, and each of those again with trailing data after the message.

:func:`tr` feeds the same bytes to a fresh protocol in every way and checks that the
events are the same each time (body bytes merged, so that a split body compares equal; in a
message that fails, how much body came before the error depends on how the bytes arrived, so
there only the other events are compared), and that the trailing bytes are left unread for
the next message. It returns the protocols, so a
test can go on with any of them (answer the request, check keep-alive, start the next cycle).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from compute_emu.rules.http1_state import CONNECTION_CLOSED, NEED_DATA, PAUSED


class Reader(Protocol):
    """What both codecs offer for reading."""

    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> Any: ...
    @property
    def trailing_data(self) -> bytes: ...


def whole(data: bytes) -> Iterator[bytes]:
    yield data


def byte_by_byte(data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]


def random_pieces(data: bytes) -> Iterator[bytes]:
    rng = random.Random(len(data))
    pos = 0
    while pos < len(data):
        n = rng.randint(1, 7)
        yield data[pos : pos + n]
        pos += n


SPLITS: dict[str, Callable[[bytes], Iterator[bytes]]] = {
    "whole": whole,
    "byte by byte": byte_by_byte,
    "random pieces": random_pieces,
}


@dataclass(frozen=True)
class Raises:
    """An expected error: its type and the attributes it must carry (``status=400``)."""

    kind: type[Exception]
    attrs: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, kind: type[Exception], **attrs: object) -> Raises:
        return cls(kind, tuple(sorted(attrs.items())))

    def matches(self, exc: Exception) -> bool:
        return isinstance(exc, self.kind) and all(getattr(exc, k) == v for k, v in self.attrs)


@dataclass(frozen=True)
class Raised:
    """An error a reader raised (compares equal to a matching :class:`Raises`)."""

    exc: Exception

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Raises):
            return other.matches(self.exc)
        return isinstance(other, Raised) and repr(other.exc) == repr(self.exc)

    def __hash__(self) -> int:
        return hash(repr(self.exc))


def read(protocol: Reader, pieces: Iterator[bytes], *, eof: bool = False) -> list[object]:
    """Feed ``pieces`` (then ``b""`` if ``eof``) and collect the events up to ``PAUSED``,
    ``CONNECTION_CLOSED`` or an error, body bytes merged; the pieces after that are fed
    too, unread (they are the next message's)."""
    out: list[object] = []
    feed = iter([*pieces, b""] if eof else pieces)
    done = False
    while True:
        while not done:  # what the bytes so far make
            try:
                event = protocol.next_event()
            except Exception as exc:  # a ProtocolError, ResponseError, ...
                out.append(Raised(exc))
                done = True
                break
            if event is NEED_DATA:
                break
            if isinstance(event, bytes) and out and isinstance(out[-1], bytes):
                out[-1] += event
            else:
                out.append(event)
            done = event is PAUSED or event is CONNECTION_CLOSED
        piece = next(feed, None)
        if piece is None:
            return out
        protocol.receive_data(piece)


def read_every_way(make: Callable[[], Reader], data: bytes) -> list[object]:
    """The events of ``data`` followed by the peer closing, read whole, byte by byte and in
    pieces (they must agree); if the reader refused it every way, its error is raised."""
    results = [read(make(), split(data), eof=True) for split in SPLITS.values()]
    failed = [events[-1] for events in results if events and isinstance(events[-1], Raised)]
    if failed:
        assert len(failed) == len(results), results
        raise failed[0].exc
    assert all(events == results[0] for events in results), results
    return results[0]


@dataclass
class Runs:
    """The protocols of one :func:`tr` call, after reading."""

    plain: list[Any]  # whole, byte by byte, random pieces
    trailed: list[Any]  # the same, each with trailing data after the message

    @property
    def all(self) -> list[Any]:
        return self.plain + self.trailed


def tr(
    make: Callable[[], Reader],
    data: bytes,
    expected: list[object],
    *,
    trailing: bytes,
    eof: bool = False,
) -> Runs:
    """Read ``data`` every way (see the module docstring) and check the events; with
    ``eof`` the peer closes after it (then there is no trailing data to try)."""
    runs = Runs([], [])
    for extra in (b"",) if eof else (b"", trailing):
        for name, split in SPLITS.items():
            protocol = make()
            got = read(protocol, split(data + extra), eof=eof)
            if expected and isinstance(expected[-1], Raises):
                # how much body came before the error depends on how the bytes arrived
                got = [event for event in got if not isinstance(event, bytes)]
                expected = [event for event in expected if not isinstance(event, bytes)]
            assert got == expected, f"{name}, trailing {extra!r}: {got}"
            if not any(isinstance(event, Raised) for event in got):
                assert protocol.trailing_data == extra, name
            (runs.trailed if extra else runs.plain).append(protocol)
    return runs
