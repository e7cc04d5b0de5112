"""Enums of ``fastly::http`` that set how a message goes on the wire."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._headers import HeaderMap


class FramingHeadersMode(Enum):
    """Whether ``Content-Length``/``Transfer-Encoding`` come from the message's own headers.

    ``Automatic`` (the default): compute-emu frames the body itself and drops those headers.
    ``ManuallyFromHeaders``: the message's own framing headers are used when they are valid for
    its body (a ``Content-Length`` equal to the body's length, or ``Transfer-Encoding:
    chunked``); otherwise compute-emu falls back to automatic framing, as Viceroy does.
    """

    Automatic = 0
    ManuallyFromHeaders = 1


class HttpKeepaliveMode(Enum):
    """Whether the client connection may be kept alive after a response."""

    Automatic = 0
    NoKeepalive = 1


def manual_framing(
    mode: FramingHeadersMode, headers: HeaderMap, length: int | None
) -> tuple[str, bytes] | None:
    """The message's own framing header under ``ManuallyFromHeaders`` when it is valid for a
    body of ``length`` bytes (``None``: unknown yet), else ``None`` (framed automatically, as
    Viceroy falls back)."""
    if mode is not FramingHeadersMode.ManuallyFromHeaders:
        return None
    encoding = headers.get_all("transfer-encoding")
    declared = headers.get_all("content-length")
    if encoding and not declared and [v.strip().lower() for v in encoding] == [b"chunked"]:
        return ("transfer-encoding", b"chunked")
    valid = not encoding and len(declared) == 1 and declared[0].strip().isdigit()
    if valid and (length is None or int(declared[0]) == length):
        return ("content-length", declared[0].strip())
    return None
