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
import threading

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
    """A ``logging`` handler that writes each record to a log endpoint.

    One per endpoint per logger: if a logger has several ``EndpointHandler`` for the same
    endpoint, the one added last replaces the others (they are taken off that logger the
    first time a record reaches them, and never write again). This is what makes the usual
    ``logging.getLogger("app").addHandler(EndpointHandler("my_log"))`` at the top of the
    entry file log each record once: compute-emu runs the top level again for every request
    (a fresh instance, as on Compute) while ``logging``'s loggers live on. The newest
    handler wins, so an edit of its level, formatter or filters takes effect.

    Handlers for different endpoints, and handlers on different loggers, are independent: a
    record propagating from ``app`` to the root logger is written by a handler on each, as
    usual with ``logging``.
    """

    def __init__(self, endpoint: Endpoint | str, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.endpoint = endpoint if isinstance(endpoint, Endpoint) else Endpoint(endpoint)
        self._replaced = False

    def handle(self, record: logging.LogRecord) -> bool:
        """Write the record, unless a newer handler for this endpoint replaced this one."""
        if self._superseded(record):
            return False
        return super().handle(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.endpoint.write(self.format(record))
        except Exception:
            self.handleError(record)

    def _same_endpoint(self, handler: logging.Handler) -> bool:
        return (
            isinstance(handler, EndpointHandler) and handler.endpoint.name() == self.endpoint.name()
        )

    def _superseded(self, record: logging.LogRecord) -> bool:
        live = stale = False
        for logger in _chain(record.name):
            if not any(h is self for h in logger.handlers):
                continue
            if [h for h in logger.handlers if self._same_endpoint(h)][-1] is self:
                live = True
            else:
                stale = True
                self._drop_replaced(logger)
        if live:
            self._replaced = False
            return False
        return stale or self._replaced

    def _drop_replaced(self, logger: logging.Logger) -> None:
        """Keep only the last handler for this endpoint on ``logger``.

        The list is replaced, not changed in place: ``Logger.callHandlers`` may be iterating
        over it right now (in this thread or another), and would skip a handler otherwise.
        """
        with _LOGGING_LOCK:
            same = [h for h in logger.handlers if self._same_endpoint(h)]
            dropped = same[:-1]
            logger.handlers = [h for h in logger.handlers if not any(h is d for d in dropped)]
        for handler in dropped:
            assert isinstance(handler, EndpointHandler)
            handler._replaced = True


# the lock logging's own addHandler/removeHandler hold (private, but there since Python 2)
_LOGGING_LOCK = getattr(logging, "_lock", None) or threading.RLock()


def _chain(name: str) -> list[logging.Logger]:
    """The loggers a record from logger ``name`` passes, in order (as ``callHandlers``)."""
    root = logging.getLogger()
    logger = root if name == root.name else logging.Logger.manager.loggerDict.get(name)
    chain: list[logging.Logger] = []
    while isinstance(logger, logging.Logger):
        chain.append(logger)
        if not logger.propagate:
            break
        logger = logger.parent
    return chain
