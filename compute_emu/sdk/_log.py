"""Logging endpoints (mirrors ``fastly::log::Endpoint``) and a ``logging.Handler`` for them.

Each write is one line, shown as ``NAME :: message`` with the request that wrote it, with
Viceroy's rules: one trailing newline is dropped, inner newlines are shown as the two
characters ``\\n``, empty messages are dropped. Any valid name works locally, as in Viceroy;
``stdout``, ``stderr`` and ``fst_managed_*`` are reserved.

Differences from Rust: ``write`` takes ``str`` or ``bytes``; ``from_name`` raises
``LogError`` where Rust panics (``try_from_name`` raises it too, instead of returning Err).
"""

from __future__ import annotations

import logging
import re

from ._host import current_host

_RESERVED = ("stdout", "stderr")
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


class LogError(Exception):
    """An endpoint name that cannot be used."""


def format_line(message: str) -> str | None:
    """Viceroy's rendering of one write; ``None`` for an empty message."""
    if message.endswith("\n"):
        message = message[:-1]
    if not message:
        return None
    return message.replace("\n", "\\n")


class Endpoint:
    """A named log endpoint."""

    def __init__(self, name: str) -> None:
        if name in _RESERVED or name.startswith("fst_managed_"):
            raise LogError(f"log endpoint name {name!r} is reserved")
        if not _NAME.match(name):
            raise LogError(f"invalid log endpoint name {name!r}")
        self._name = name

    @classmethod
    def from_name(cls, name: str) -> Endpoint:
        """The endpoint called ``name``; raises ``LogError`` for a reserved or invalid name."""
        return cls(name)

    @classmethod
    def try_from_name(cls, name: str) -> Endpoint:
        """Same as ``from_name`` (Rust returns a Result; Python raises)."""
        return cls(name)

    def name(self) -> str:
        """The endpoint's name."""
        return self._name

    def write(self, message: str | bytes) -> int:
        """Write one line; returns the number of bytes taken."""
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        line = format_line(text)
        if line is not None:
            current_host("Endpoint.write()").log_write(self._name, line)
        return len(message)

    def __repr__(self) -> str:
        return f"Endpoint({self._name!r})"


class EndpointHandler(logging.Handler):
    """A ``logging`` handler that writes each record to a log endpoint."""

    def __init__(self, endpoint: Endpoint | str, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.endpoint = endpoint if isinstance(endpoint, Endpoint) else Endpoint(endpoint)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.endpoint.write(self.format(record))
        except Exception:
            self.handleError(record)
