"""The app's ``print()`` output, tagged with the request whose ``main()`` wrote it.

A line is written when it ends. A partial line is written when the app flushes (``input()``
and ``pdb`` flush their prompt before they read), so a ``(Pdb)`` prompt shows at once; what the
same thread writes next continues that line, unless it read from stdin meanwhile (the user's
Enter ended the line on the terminal).
"""

from __future__ import annotations

import io
import sys
import threading
from typing import Any, Protocol, TextIO


class OutputLog(Protocol):
    """Where the app's printed lines go (``compute_emu.log.RequestLog``)."""

    def app_output(self, request_id: int, line: str, *, continued: bool = False) -> None:
        """A whole line (``continued``: the rest of a line whose start was written)."""

    def app_partial(self, request_id: int, text: str, *, continued: bool = False) -> None:
        """An unfinished line the app flushed (a prompt)."""


_binding = threading.local()  # per thread: target (OutputLog, id), pending text, open line


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
    def bind(log: OutputLog | None, request_id: int | None = None) -> None:
        """Tag this thread's output with ``request_id`` in ``log`` (None: stop, flush the rest)."""
        current = getattr(_binding, "target", None)
        pending = getattr(_binding, "pending", "")
        if current is not None and pending:
            current[0].app_output(current[1], pending, continued=_binding.open)
        elif current is not None and getattr(_binding, "open", False):
            current[0].partial_ended(newline=True)
        _binding.pending = ""
        _binding.open = False
        _binding.target = None if log is None or request_id is None else (log, request_id)

    @staticmethod
    def line_ended() -> None:
        """This thread read a line from stdin: the terminal's echo ended the open line."""
        if getattr(_binding, "open", False):
            _binding.open = False
            target = _binding.target
            if target is not None:
                target[0].partial_ended()

    def write(self, text: str) -> int:  # type: ignore[override]
        target = getattr(_binding, "target", None)
        if target is None:
            return self._passthrough.write(text)
        log, request_id = target
        pending = _binding.pending + text
        if "\n" not in pending:
            _binding.pending = pending
            return len(text)
        *lines, _binding.pending = pending.split("\n")
        if _binding.open:
            _binding.open = False
            log.app_output(request_id, lines.pop(0), continued=True)
        for line in lines:
            log.app_output(request_id, line)
        return len(text)

    def flush(self) -> None:
        target = getattr(_binding, "target", None)
        if target is not None and _binding.pending:
            target[0].app_partial(target[1], _binding.pending, continued=_binding.open)
            _binding.pending = ""
            _binding.open = True
        self._passthrough.flush()

    def isatty(self) -> bool:
        return self._passthrough.isatty()

    def fileno(self) -> int:
        return self._passthrough.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._passthrough, "encoding", "utf-8")


class AppInput:
    """Stands in for ``sys.stdin``: reading a line ends this thread's open output line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def readline(self, size: int = -1) -> str:
        """A line from the real stdin."""
        AppOutput.line_ended()
        return self._stream.readline(size)

    def read(self, size: int = -1) -> str:
        """From the real stdin."""
        AppOutput.line_ended()
        return self._stream.read(size)

    def __iter__(self) -> AppInput:
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_capture_lock = threading.Lock()


def capture_app_output() -> None:
    """Route ``sys.stdout``/``sys.stderr`` through :class:`AppOutput` and ``sys.stdin``
    through :class:`AppInput` (once per process).

    Until a thread binds a request nothing changes: writes reach the real streams as before.
    """
    with _capture_lock:
        if not isinstance(sys.stdout, AppOutput):
            sys.stdout = AppOutput(sys.stdout)
        if not isinstance(sys.stderr, AppOutput):
            sys.stderr = AppOutput(sys.stderr)
        if sys.stdin is not None and not isinstance(sys.stdin, AppInput):
            sys.stdin = AppInput(sys.stdin)  # type: ignore[assignment]
