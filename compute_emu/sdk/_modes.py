"""Enums of ``fastly::http`` that set how a message goes on the wire."""

from __future__ import annotations

from enum import Enum


class FramingHeadersMode(Enum):
    """Whether ``Content-Length``/``Transfer-Encoding`` come from the message's own headers.

    ``Automatic`` (the default): compute-emu frames the body itself and drops those headers.
    ``ManuallyFromHeaders``: the message's own framing headers are used when they are valid for
    its body (a ``Content-Length`` equal to the body's length, or ``Transfer-Encoding:
    chunked``); otherwise compute-emu falls back to automatic framing, as Viceroy does
    (the rule: ``compute_emu.rules.framing.manual_framing``).
    """

    Automatic = 0
    ManuallyFromHeaders = 1


class HttpKeepaliveMode(Enum):
    """Whether the client connection may be kept alive after a response."""

    Automatic = 0
    NoKeepalive = 1
