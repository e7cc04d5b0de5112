"""What the app decided for its client: one of six frozen values.

An app decides exactly one thing about its client: a response (``send_to_client``), a
streamed response (``stream_to_client``), or a handoff (``handoff_fanout``/
``handoff_websocket``). If it decides nothing, ``main()`` raising (:class:`Failed`) or
returning (:class:`Returned`) decides, unless the client went away first
(:class:`ClientWentAway`). The request's scope records the first decision; the handler
carries it out with one ``match``, while the app's thread goes on (as a Compute instance does
after ``send_downstream``).

What the app may not decide is refused on its own thread, before anything goes down:
:func:`sendable` and :func:`handoff_refusal` (Viceroy's rules, pure).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from ..sdk._errors import SendError, SendErrorCause
from ..sdk._interface import HandoffKind, OutgoingRequest, OutgoingResponse
from .bridge import HANDOFF_REPLAY_LIMIT
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


def sendable(status: int) -> bool:
    """Whether a response with ``status`` goes to the client: a 103 is dropped (``False``),
    as in Viceroy, and its real response follows; any other 1xx is refused (``ValueError``)."""
    if status >= 200:
        return True
    if status != 103:
        raise ValueError(f"cannot send an informational status ({status}) to the client")
    return False


def handoff_refusal(
    backend: str,
    kind: HandoffKind,
    replay_lost: bool,
    fanout_port: int | None,
    manifest_name: str,
) -> SendError | None:
    """Why a handoff cannot be made, or ``None`` (an unknown WebSocket backend is refused
    apart, with the backends the request knows)."""
    if replay_lost:
        return SendError(
            backend,
            SendErrorCause.InternalError,
            f"cannot hand off: main() already read more than {HANDOFF_REPLAY_LIMIT} bytes "
            "of the request body (hand off before reading a large body)",
        )
    if kind == "fanout" and fanout_port is None:
        return SendError(
            backend,
            SendErrorCause.InternalError,
            "Fanout is not enabled for local testing: set `enable = true` under "
            f"[local_server.pushpin] in {manifest_name}, or pass "
            "--experimental-enable-pushpin to `compute-emu serve`",
        )
    return None


def unrouted_fanout(backends: Container[str], backend: str, kind: HandoffKind) -> bool:
    """A Fanout handoff to a backend fastly.toml does not have: Viceroy does not check, and
    Pushpin answers 502 (compute-emu warns)."""
    return kind == "fanout" and backend not in backends
