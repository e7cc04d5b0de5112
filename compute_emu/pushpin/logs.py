"""Pushpin's log lines, relayed with a `pushpin` tag: problems always, the rest on --verbose."""

from __future__ import annotations

import re

from ..log import RequestLog

# "[INFO] 2026-11-26 15:38:43.991 [proxy] routes loaded with 1 entries"
_LINE = re.compile(r"^\[(?P<level>[A-Z]+)\]\s+\S+\s+\S+\s+(?P<message>.*)$")


def parse_line(line: str) -> tuple[str, str]:
    """(level, message) of a runner line; unparsable lines count as INFO."""
    match = _LINE.match(line)
    if not match:
        return "INFO", line
    level = match["level"]
    return ("ERROR" if level == "ERR" else level), match["message"]


def relay_line(log: RequestLog, line: str) -> None:
    """Show one Pushpin line the way compute-emu shows its own."""
    level, message = parse_line(line)
    if level == "ERROR":
        log.error(f"pushpin: {message}")
    elif level.startswith("WARN"):
        log.warning(f"pushpin: {message}")
    else:
        log.debug(f"pushpin {level.lower()}: {message}")
