"""Logs for people: one line per request, the app's own output tagged with its request.

Lines are pre-formatted strings (ANSI colour only on a terminal) written straight to the
stream: no rich rendering on the request path, where it would cost more than the request.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_STATUS_COLOURS = {1: "\x1b[36m", 2: "\x1b[32m", 3: "\x1b[36m", 4: "\x1b[33m", 5: "\x1b[31m"}


def human_bytes(n: int) -> str:
    """``1536`` -> ``1.5KB``."""
    if n < 1024:
        return f"{n}B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            return f"{value:.1f}{unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """``0.0032`` -> ``3.2ms``; ``75.4`` -> ``75.4s``."""
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.1f}s"


@dataclass
class RequestRecord:
    """What the request log line reports."""

    request_id: int
    method: str
    target: str
    status: int | None = None
    started: float = field(default_factory=time.perf_counter)
    bytes_sent: int = 0
    notes: list[str] = field(default_factory=list)  # e.g. "send→origin", "fanout→origin"
    error: str | None = None  # one line: why it failed


class RequestLog:
    """Writes request lines and app output; errors go to stderr."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        colour: bool | None = None,
        verbose: bool = False,
        quiet: bool = False,
    ) -> None:
        self.out = _real_stream(out or sys.stdout)
        self.err = _real_stream(err or sys.stderr)
        self.colour = self.out.isatty() if colour is None else colour
        self.verbose = verbose
        self.quiet = quiet
        self._lock = threading.Lock()

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour else text

    def _write(self, stream: TextIO, line: str) -> None:
        with self._lock:
            stream.write(line + "\n")
            stream.flush()

    def request(self, record: RequestRecord) -> None:
        """The one line for a completed request."""
        if self.quiet:
            return
        elapsed = time.perf_counter() - record.started
        status = "---" if record.status is None else str(record.status)
        colour = _STATUS_COLOURS.get((record.status or 500) // 100, "")
        parts = [
            self._paint(_DIM, time.strftime("%H:%M:%S")),
            self._paint(_DIM, f"#{record.request_id}"),
            f"{record.method} {record.target}",
            self._paint(colour + _BOLD, status),
            human_duration(elapsed),
            human_bytes(record.bytes_sent),
        ]
        if record.notes:
            parts.append(self._paint(_DIM, "[" + ", ".join(record.notes) + "]"))
        if record.error:
            parts.append(self._paint(_STATUS_COLOURS[5], record.error))
        self._write(self.out, " ".join(parts))

    def app_output(self, request_id: int, line: str) -> None:
        """A line the app printed while handling request ``request_id``."""
        self._write(self.out, self._paint(_DIM, f"#{request_id} |") + " " + line)

    def info(self, message: str) -> None:
        """A normal status line (start-up, shutdown)."""
        self._write(self.out, message)

    def debug(self, message: str) -> None:
        """Detail shown with --verbose."""
        if self.verbose:
            self._write(self.out, self._paint(_DIM, message))

    def warning(self, message: str) -> None:
        """Something the user should know about; stderr."""
        self._write(self.err, self._paint("\x1b[33m", "warning: ") + message)

    def error(self, message: str) -> None:
        """Something failed; stderr."""
        self._write(self.err, self._paint(_STATUS_COLOURS[5], "error: ") + message)


def _real_stream(stream: TextIO) -> TextIO:
    """The stream under an :class:`AppOutput` (the log must never write into itself)."""
    return stream._passthrough if isinstance(stream, AppOutput) else stream


_binding = threading.local()  # per thread: (RequestLog, request id) while main() runs


class AppOutput(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: lines written by a thread that is running a
    request's ``main()`` go to that request's log, tagged with its id; anything else passes
    through to the real stream.

    The binding is per thread (:meth:`bind`), not per server, so the two streams are replaced
    once per process (:func:`capture_app_output`) and any number of servers can share them.
    """

    def __init__(self, passthrough: TextIO) -> None:
        self._passthrough = passthrough

    @staticmethod
    def bind(log: RequestLog | None, request_id: int | None = None) -> None:
        """Tag this thread's output with ``request_id`` in ``log`` (None: stop, flush the rest)."""
        current = getattr(_binding, "target", None)
        pending = getattr(_binding, "pending", "")
        if pending and current is not None:
            current[0].app_output(current[1], pending)
        _binding.pending = ""
        _binding.target = None if log is None or request_id is None else (log, request_id)

    def write(self, text: str) -> int:  # type: ignore[override]
        target = getattr(_binding, "target", None)
        if target is None:
            return self._passthrough.write(text)
        log, request_id = target
        pending = _binding.pending + text
        *lines, _binding.pending = pending.split("\n")
        for line in lines:
            log.app_output(request_id, line)
        return len(text)

    def flush(self) -> None:
        self._passthrough.flush()

    def isatty(self) -> bool:
        return self._passthrough.isatty()

    def fileno(self) -> int:
        return self._passthrough.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._passthrough, "encoding", "utf-8")


_capture_lock = threading.Lock()


def capture_app_output() -> None:
    """Route ``sys.stdout``/``sys.stderr`` through :class:`AppOutput` (once per process).

    Until a thread binds a request nothing changes: writes reach the real streams as before.
    """
    with _capture_lock:
        if not isinstance(sys.stdout, AppOutput):
            sys.stdout = AppOutput(sys.stdout)
        if not isinstance(sys.stderr, AppOutput):
            sys.stderr = AppOutput(sys.stderr)
