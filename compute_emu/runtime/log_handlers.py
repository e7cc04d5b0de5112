"""Handlers the entry's top level adds to ``logging`` must not pile up.

The top level runs again for every request (a fresh instance, as on Compute), while
``logging``'s loggers live as long as the process: ``logger.addHandler(FastlyLogHandler(...))``
at the top level would add one more handler per request, and each record would be written
once per request served so far. After each run of the top level, of the handlers on one logger
that do the same thing (same class and same destination) only the newest is kept, so an
edit of its level, format or filters takes effect. ``compute_emu.sdk.EndpointHandler`` does
the same for itself.

A handler writes to the log of the request that emits the record (the bindings find the
request when writing), so the kept handler serves every request.
"""

from __future__ import annotations

import logging
import threading

# the lock logging's own addHandler/removeHandler hold (private, but there since Python 2)
_LOGGING_LOCK = getattr(logging, "_lock", None) or threading.RLock()


def _key(handler: logging.Handler) -> tuple[object, ...]:
    """What makes two handlers equivalent: class and destination (not level or format)."""
    destination: list[object] = []
    for attr in ("_default_endpoint", "baseFilename", "stream", "endpoint"):
        value = getattr(handler, attr, None)
        value = getattr(value, "_passthrough", value)  # sys.stdout behind compute-emu's capture
        if value is not None:
            destination.append(value if isinstance(value, str) else id(value))
    mapper = getattr(handler, "_endpoint_mapper", None)
    if mapper is not None:
        destination.append(getattr(mapper, "__qualname__", repr(mapper)))
    return (type(handler).__module__, type(handler).__qualname__, *destination)


def _loggers() -> list[logging.Logger]:
    found = [logging.getLogger()]
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            found.append(logger)
    return found


def dedupe_handlers() -> int:
    """Keep the newest of equivalent handlers on every logger; returns how many were dropped.

    Lists are replaced, not changed in place: ``Logger.callHandlers`` may be iterating over
    one right now (in another request's thread).
    """
    dropped = 0
    with _LOGGING_LOCK:
        for logger in _loggers():
            handlers = logger.handlers
            if len(handlers) < 2:
                continue
            seen: set[tuple[object, ...]] = set()
            kept: list[logging.Handler] = []
            for handler in reversed(handlers):
                key = _key(handler)
                if key in seen:
                    dropped += 1
                    continue
                seen.add(key)
                kept.append(handler)
            if len(kept) != len(handlers):
                logger.handlers = kept[::-1]
    return dropped
