"""Pushpin's log lines, relayed with a `pushpin` tag: problems always, the rest on --verbose."""

from __future__ import annotations

import re

from ..log import RequestLog

# "[INFO] 2026-11-26 15:38:43.991 [proxy] routes loaded with 1 entries"
_LINE = re.compile(r"^\[(?P<level>[A-Z]+)\]\s+\S+\s+\S+\s+(?P<message>.*)$")

# Lines Pushpin logs as problems that compute-emu knows: (pattern, what it means while Pushpin
# starts, shown on --verbose only; what it means once Pushpin is ready, shown as a warning).
_KNOWN = (
    # condure (connmgr from 1.40) sending on a stream before the peer's ZeroMQ socket has
    # connected, when compute-emu's readiness probes race Pushpin's internal links (the probes
    # are retried, and readiness waits for this link: see ``probes.delivers``).
    (
        re.compile(r"^\[(?:condure|connmgr)\] \[[\w:]+\] stream zmq send to: Host unreachable$"),
        "harmless while Pushpin starts",
        "a Pushpin-internal link is down: held streams may stall; restart compute-emu if they do",
    ),
    # The handler cancels a held stream whose message came with an unexpected sequence number.
    # Pushpin 1.36 does this now and then to a stream it has just taken over or sent its first
    # message on. While Pushpin starts, the stream is the readiness probe's (it opens another).
    (
        re.compile(
            r"^\[handler\] z(?:http|ws) server: error id=\S+ received message out of sequence, "
            r"canceling$"
        ),
        "a readiness probe's stream, retried",
        "Pushpin ended a held stream: its client sees it close and may reconnect",
    ),
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
    known = next((k for k in _KNOWN if k[0].match(message)), None)
    if known is not None:
        if starting:
            log.debug(f"pushpin {level.lower()} ({known[1]}): {message}")
        else:
            log.warning(f"pushpin: {message} ({known[2]})")
    elif level == "ERROR":
        log.error(f"pushpin: {message}")
    elif level.startswith("WARN"):
        log.warning(f"pushpin: {message}")
    else:
        log.debug(f"pushpin {level.lower()}: {message}")
