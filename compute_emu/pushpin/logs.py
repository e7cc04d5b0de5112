"""Pushpin's log lines, relayed with a `pushpin` tag: problems always, the rest on --verbose."""

from __future__ import annotations

import re

from ..log import RequestLog

# "[INFO] 2026-11-26 15:38:43.991 [proxy] routes loaded with 1 entries"
_LINE = re.compile(r"^\[(?P<level>[A-Z]+)\]\s+\S+\s+\S+\s+(?P<message>.*)$")

# Logged as an error by Pushpin, and harmless while it starts: condure (connmgr from 1.40)
# sending on a stream before the peer's ZeroMQ socket has connected, when compute-emu's
# readiness probes race Pushpin's internal links (the probes are retried, and readiness waits
# for this link: see ``probes.delivers``). Once Pushpin is ready it means held streams will
# stall or be cancelled, and is shown as a warning.
_UNREACHABLE = re.compile(
    r"^\[(?:condure|connmgr)\] \[[\w:]+\] stream zmq send to: Host unreachable$"
)

# Logged as a warning by Pushpin's handler when a message of a held stream arrives with an
# unexpected sequence number; it cancels the stream. Pushpin 1.36 does this now and then to a
# stream it has just taken over or sent its first message on. While Pushpin starts, it is one
# of the readiness probe's streams (the probe opens another); once ready, a client's stream
# ended, and an EventSource or a WebSocket client that reconnects gets a new one.
_OUT_OF_SEQUENCE = re.compile(
    r"^\[handler\] z(?:http|ws) server: error id=\S+ received message out of sequence, canceling$"
)


def parse_line(line: str) -> tuple[str, str]:
    """(level, message) of a runner line; unparsable lines count as INFO."""
    match = _LINE.match(line)
    if not match:
        return "INFO", line
    level = match["level"]
    return ("ERROR" if level == "ERR" else level), match["message"]


def relay_line(log: RequestLog, line: str, *, starting: bool = False) -> None:
    """Show one Pushpin line the way compute-emu shows its own (``starting``: Pushpin is not
    ready yet)."""
    level, message = parse_line(line)
    if level == "ERROR" and _UNREACHABLE.match(message):
        if starting:
            log.debug(f"pushpin error (harmless while Pushpin starts): {message}")
        else:
            log.warning(
                f"pushpin: {message} (a Pushpin-internal link is down: held streams may stall; "
                "restart compute-emu if they do)"
            )
    elif level.startswith("WARN") and _OUT_OF_SEQUENCE.match(message):
        if starting:
            log.debug(f"pushpin warning (a readiness probe's stream, retried): {message}")
        else:
            log.warning(
                f"pushpin: {message} (Pushpin ended a held stream: its client sees it close "
                "and may reconnect)"
            )
    elif level == "ERROR":
        log.error(f"pushpin: {message}")
    elif level.startswith("WARN"):
        log.warning(f"pushpin: {message}")
    else:
        log.debug(f"pushpin {level.lower()}: {message}")
