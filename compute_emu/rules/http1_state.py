"""The states of an HTTP/1.1 exchange, as h11 names them, and how a codec's moves are written.

Each codec (:mod:`~compute_emu.rules.http1_server`, :mod:`~compute_emu.rules.http1_client`)
keeps two states, its own side's (``our_state``) and its peer's (``their_state``), and
lists its legal moves in one table (:data:`Moves`): for each event, where it takes each
side it moves. :func:`transition_table` turns that into the one lookup the codec's
``_set_state`` uses, adding h11's rule that a side reaching ``DONE`` on a connection that
will not be kept alive is at ``MUST_CLOSE`` instead. An event is legal only where every
side it moves has an entry; anything else is a ``LocalProtocolError``.

``next_event()`` returns a head, body bytes, or one of the sentinels below.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import ClassVar, Final

from .http1_head import LocalProtocolError


class State(enum.Enum):
    """Where one side of an exchange is (h11's names and meanings)."""

    IDLE = "IDLE"  # between messages
    SEND_RESPONSE = "SEND_RESPONSE"  # (the server) the request head is in; no response yet
    SEND_BODY = "SEND_BODY"  # the head went out (or came in); its body is under way
    DONE = "DONE"  # the message is complete; another may follow (keep-alive)
    MUST_CLOSE = "MUST_CLOSE"  # the message is complete; the connection ends after it
    CLOSED = "CLOSED"  # the peer closed between messages
    SWITCHED_PROTOCOL = "SWITCHED_PROTOCOL"  # a 101 went through: the bytes are not HTTP now
    ERROR = "ERROR"  # this side broke HTTP/1.1 (or could not be written to)

    __hash__ = object.__hash__  # identity: a table lookup per event stays cheap

    def __repr__(self) -> str:
        return self.value


IDLE: Final = State.IDLE
SEND_RESPONSE: Final = State.SEND_RESPONSE
SEND_BODY: Final = State.SEND_BODY
DONE: Final = State.DONE
MUST_CLOSE: Final = State.MUST_CLOSE
CLOSED: Final = State.CLOSED
SWITCHED: Final = State.SWITCHED_PROTOCOL
ERROR: Final = State.ERROR


class Move:
    """An event that moves a codec's states: a class attribute of the codec's ``Event``
    namespace (a plain class, not an ``enum``: a member lookup on Python 3.11's enums costs
    more than the move itself)."""

    __slots__ = ("doc", "name")

    def __init__(self, doc: str) -> None:
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def events_of(namespace: type) -> list[Move]:
    """The moves a codec's ``Event`` namespace defines, in order."""
    return [value for value in vars(namespace).values() if isinstance(value, Move)]


# event -> (our moves, their moves); None: the event leaves that side where it is
Moves = Mapping[Move, tuple[Mapping[State, State] | None, Mapping[State, State] | None]]
Table = dict[tuple[Move, State, State, bool], tuple[State, State]]


def transition_table(moves: Moves) -> Table:
    """``(event, our state, their state, keep-alive) -> (our state, their state)`` for every
    legal move in ``moves``, with h11's keep-alive rule applied to both sides."""
    table: Table = {}
    for event, (our_moves, their_moves) in moves.items():
        for ours in State:
            for theirs in State:
                if our_moves is not None and ours not in our_moves:
                    continue
                if their_moves is not None and theirs not in their_moves:
                    continue
                new_ours = ours if our_moves is None else our_moves[ours]
                new_theirs = theirs if their_moves is None else their_moves[theirs]
                table[event, ours, theirs, True] = (new_ours, new_theirs)
                table[event, ours, theirs, False] = (_closing(new_ours), _closing(new_theirs))
    return table


def _closing(state: State) -> State:
    return MUST_CLOSE if state is DONE else state


class StateMachine:
    """Both sides' states of one connection and whether it is kept alive; they change only
    in :meth:`_set_state`, by the subclass's ``TABLE`` (a :func:`transition_table`)."""

    __slots__ = ("keep_alive", "our_state", "their_state")
    TABLE: ClassVar[Table]

    def __init__(self) -> None:
        self.our_state = IDLE
        self.their_state = IDLE
        self.keep_alive = True

    def _set_state(self, event: Move, keep_alive: bool = True) -> None:
        """Move both sides by ``event`` (``keep_alive`` False: the event ends keep-alive);
        LocalProtocolError, and nothing changed, if the event is not legal now."""
        keep_alive = keep_alive and self.keep_alive
        try:
            self.our_state, self.their_state = self.TABLE[
                event, self.our_state, self.their_state, keep_alive
            ]
        except KeyError:
            raise LocalProtocolError(
                f"{event.doc}: not in state ({self.our_state!r}, {self.their_state!r})"
            ) from None
        self.keep_alive = keep_alive


class Sentinel:
    """A named event with no data (compared with ``is``)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA: Final = Sentinel("NEED_DATA")  # feed more bytes
PAUSED: Final = Sentinel("PAUSED")  # a message is complete: nothing more until the next cycle
END_OF_MESSAGE: Final = Sentinel("END_OF_MESSAGE")  # the body is complete
CONNECTION_CLOSED: Final = Sentinel("CONNECTION_CLOSED")  # the peer closed between messages
