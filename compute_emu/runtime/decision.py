"""What the app decided for its client: one of six frozen values.

An app decides exactly one thing about its client: a response (``send_to_client``), a
streamed response (``stream_to_client``), or a handoff (``handoff_fanout``/
``handoff_websocket``). If it decides nothing, ``main()`` raising (:class:`Failed`) or
returning (:class:`Returned`) decides, unless the client went away first
(:class:`ClientWentAway`). The request's scope records the first decision; the handler
carries it out with one ``match``, while the app's thread goes on (as a Compute instance does
after ``send_downstream``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sdk._interface import HandoffKind, OutgoingRequest, OutgoingResponse
from .streaming import StreamingSink


@dataclass(frozen=True, slots=True)
class Respond:
    """Send ``response`` (its body follows as it is read)."""

    response: OutgoingResponse


@dataclass(frozen=True, slots=True)
class Stream:
    """Send ``response``'s head and body now, then what the app writes to ``sink``."""

    response: OutgoingResponse
    sink: StreamingSink


@dataclass(frozen=True, slots=True)
class Handoff:
    """Hand the client connection off to ``backend`` (through Pushpin for Fanout)."""

    request: OutgoingRequest  # method, URL and headers; the client's own body is sent
    backend: str
    kind: HandoffKind


@dataclass(frozen=True, slots=True)
class Failed:
    """``main()`` raised before it decided."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class Returned:
    """``main()`` returned without deciding (Viceroy answers an empty 200)."""


@dataclass(frozen=True, slots=True)
class ClientWentAway:
    """The client left before the app decided: nobody to answer."""


Decision = Respond | Stream | Handoff | Failed | Returned | ClientWentAway
