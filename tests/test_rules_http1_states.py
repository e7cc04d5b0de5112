"""Both codecs' state machines, walked whole (as h11's ``test_state.py`` does): every event in
every pair of states, with keep-alive on and off, against the legal moves written out here a
second time. A move the table does not list raises and changes nothing."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from compute_emu.rules import http1_client, http1_server
from compute_emu.rules.http1_head import LocalProtocolError
from compute_emu.rules.http1_state import DONE, MUST_CLOSE, State, events_of

# event  our state  their state  ->  our state  their state   (*: any, and left as it is)
SERVER = """
REQUEST          IDLE           IDLE        -> SEND_RESPONSE      SEND_BODY
END_OF_REQUEST   *              SEND_BODY   -> *                  DONE
CONNECTION_CLOSED *             IDLE        -> *                  CLOSED
PROTOCOL_ERROR   *              IDLE        -> *                  ERROR
PROTOCOL_ERROR   *              SEND_BODY   -> *                  ERROR
INFORMATIONAL    SEND_RESPONSE  *           -> SEND_RESPONSE      *
SWITCH           SEND_RESPONSE  DONE        -> SWITCHED_PROTOCOL  SWITCHED_PROTOCOL
SWITCH           SEND_RESPONSE  MUST_CLOSE  -> SWITCHED_PROTOCOL  SWITCHED_PROTOCOL
RESPONSE         IDLE           *           -> SEND_BODY          *
RESPONSE         SEND_RESPONSE  *           -> SEND_BODY          *
END_OF_RESPONSE  SEND_BODY      *           -> DONE               *
SEND_FAILED      *              *           -> ERROR              *
NEXT_CYCLE       DONE           DONE        -> IDLE               IDLE
"""

CLIENT = """
REQUEST          IDLE           IDLE           -> SEND_BODY          SEND_RESPONSE
END_OF_REQUEST   SEND_BODY      *              -> DONE               *
INFORMATIONAL    *              SEND_RESPONSE  -> *                  SEND_RESPONSE
SWITCH           SEND_BODY      SEND_RESPONSE  -> SWITCHED_PROTOCOL  SWITCHED_PROTOCOL
SWITCH           DONE           SEND_RESPONSE  -> SWITCHED_PROTOCOL  SWITCHED_PROTOCOL
RESPONSE         *              SEND_RESPONSE  -> *                  SEND_BODY
END_OF_RESPONSE  *              SEND_BODY      -> *                  DONE
CONNECTION_CLOSED *             SEND_RESPONSE  -> *                  CLOSED
PROTOCOL_ERROR   *              SEND_RESPONSE  -> *                  ERROR
PROTOCOL_ERROR   *              SEND_BODY      -> *                  ERROR
NEXT_CYCLE       DONE           DONE           -> IDLE               IDLE
"""


def legal_moves(spec: str) -> dict[tuple[str, State, State], tuple[State, State]]:
    moves = {}
    for line in spec.strip().splitlines():
        event, ours, theirs, _, new_ours, new_theirs = line.split()
        for our, their in itertools.product(State, State):
            if ours not in ("*", our.name) or theirs not in ("*", their.name):
                continue
            moves[event, our, their] = (
                our if new_ours == "*" else State[new_ours],
                their if new_theirs == "*" else State[new_theirs],
            )
    return moves


CODECS: list[tuple[Any, Any, str]] = [
    (http1_server.ServerProtocol, http1_server.Event, SERVER),
    (http1_client.ClientProtocol, http1_client.Event, CLIENT),
]


@pytest.mark.parametrize(("make", "events", "spec"), CODECS, ids=["server", "client"])
def test_every_event_in_every_state(make: Any, events: Any, spec: str) -> None:
    moves = legal_moves(spec)
    assert {event for event, _, _ in moves} == {event.name for event in events_of(events)}
    walked = 0
    for event, ours, theirs, kept, ending in itertools.product(
        events_of(events), State, State, (True, False), (True, False)
    ):
        protocol = make()
        protocol.our_state, protocol.their_state, protocol.keep_alive = ours, theirs, kept
        expected = moves.get((event.name, ours, theirs))
        if expected is None:
            with pytest.raises(LocalProtocolError):
                protocol._set_state(event, keep_alive=ending)
            assert (protocol.our_state, protocol.their_state, protocol.keep_alive) == (
                ours,
                theirs,
                kept,
            )
            continue
        protocol._set_state(event, keep_alive=ending)
        keep_alive = kept and ending
        if not keep_alive:  # h11's rule: without keep-alive, DONE is MUST_CLOSE
            expected = tuple(MUST_CLOSE if s is DONE else s for s in expected)
        assert (protocol.our_state, protocol.their_state) == expected, (event, ours, theirs)
        assert protocol.keep_alive is keep_alive
        walked += 1
    assert walked == len(moves) * 4


def test_the_states_start_idle_and_kept_alive() -> None:
    for make, _, _ in CODECS:
        protocol = make()
        assert (protocol.our_state, protocol.their_state, protocol.keep_alive) == (
            State.IDLE,
            State.IDLE,
            True,
        )
