"""Logs for people (and, with ``--log-format json``, for tools).

One line per request when it completes; a long-lived one (handoff, stream) also gets a line
when it opens. ``-v`` adds headers and each backend call, ``-vv`` bodies up to
:data:`BODY_LIMIT`. Lines are pre-formatted strings written straight to the stream (ANSI
colour decided per stream: a terminal, unless ``NO_COLOR``; ``FORCE_COLOR`` forces it), no
rich rendering on the request path, where it would cost more than the request.
"""

from __future__ import annotations

import contextvars
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from .log_capture import AppInput, AppOutput, capture_app_output
from .terminal import output_lost

__all__ = [
    "BODY_LIMIT",
    "AppInput",
    "AppOutput",
    "LogWatcher",
    "RequestLog",
    "RequestRecord",
    "capture_app_output",
    "current_request",
    "human_bytes",
    "human_duration",
]

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_YELLOW = "\x1b[33m"
_STATUS_COLOURS = {1: "\x1b[36m", 2: "\x1b[32m", 3: "\x1b[36m", 4: _YELLOW, 5: "\x1b[31m"}
BODY_LIMIT = 1024  # -vv: bytes of a body shown

# The request whose main() (or whose loop-side work for it) is running: set in the app's
# thread, and inherited by the loop tasks its SDK calls start (asyncio copies the context).
current_request: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "compute_emu_request", default=None
)


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


def use_colour(stream: TextIO, env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Colour on ``stream``? ``NO_COLOR`` (set, not empty) says no, ``FORCE_COLOR`` (set, not
    ``0``/empty) says yes, else only on a terminal (see no-color.org, force-color.org)."""
    if env.get("NO_COLOR"):
        return False
    force = env.get("FORCE_COLOR")
    if force is not None and force not in ("", "0", "false"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _preview(data: bytes, limit: int) -> str:
    """The first ``limit`` bytes, as a Python bytes literal without the ``b``."""
    text = repr(bytes(data[:limit]))[1:]
    return text + ("…" if len(data) > limit else "")


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
    bytes_received: int | None = None  # a long-lived connection: bytes from the client
    messages: tuple[int, int] | None = None  # a WebSocket: messages (from client, to client)
    opened: bool = False  # a line said it opened: this one says it closed
    error_page: str | None = None  # the HTML page of the error main() raised (the console)
    grip: tuple[str, tuple[str, ...]] | None = None  # the app answered GRIP: (hold, channels)


class LogWatcher(Protocol):
    """Told of each request as the log sees it (:meth:`RequestLog.watch`), on the thread that
    logs it: the app's thread for its output, the loop's for the rest. It must copy what it
    keeps (the record changes after the call) and return at once: it runs on the request path.
    """

    def handed_off(self, record: RequestRecord, kind: str, backend: str) -> None:
        """The request was handed off (``kind`` fanout or websocket) to ``backend``."""

    def opened(self, record: RequestRecord, what: str, status: int) -> None:
        """A long-lived answer started (the ``open`` line)."""

    def completed(self, record: RequestRecord) -> None:
        """The request ended (its one line; for a long-lived one, the ``closed`` line)."""

    def app_output(self, request_id: int, text: str, *, continued: bool, partial: bool) -> None:
        """The app printed ``text`` for the request: a line, or with ``partial`` the start of
        one (a prompt); ``continued``: the rest of the line whose start came before."""


def _put(stream: TextIO, text: str) -> None:
    """Write and flush ``text``; a reader that is gone (a closed terminal, a pipe's reader) is
    not an error: the server serves on, and a closed terminal's SIGHUP stops it cleanly."""
    try:
        stream.write(text)
        stream.flush()
    except OSError as exc:
        if not output_lost(stream, exc):
            raise


class RequestLog:
    """Writes request lines and app output; errors go to stderr."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        colour: bool | None = None,
        verbose: bool | int = False,
        quiet: bool = False,
        json_lines: bool = False,
        inspect_ws: bool = False,
    ) -> None:
        self.out = _real_stream(out or sys.stdout)
        self.err = _real_stream(err or sys.stderr)
        self.colour = use_colour(self.out) if colour is None else colour
        self.colour_err = use_colour(self.err) if colour is None else colour
        self.verbose = int(verbose)  # 0, 1 (-v: headers, backend calls), 2 (-vv: bodies)
        self.quiet = quiet
        self.json = json_lines
        self.inspect_ws = inspect_ws
        self._lock = threading.Lock()
        self._partial: int | None = None  # the thread whose unfinished line is on self.out
        self._watchers: tuple[LogWatcher, ...] = ()

    def watch(self, watcher: LogWatcher) -> Callable[[], None]:
        """Tell ``watcher`` of every request from now on; returns the function that stops it."""
        with self._lock:
            self._watchers = (*self._watchers, watcher)

        def stop() -> None:
            with self._lock:
                self._watchers = tuple(w for w in self._watchers if w is not watcher)

        return stop

    def handed_off(self, record: RequestRecord, kind: str, backend: str) -> None:
        """A request was handed off (no line of its own: watchers only)."""
        for watcher in self._watchers:
            watcher.handed_off(record, kind, backend)

    # -- writing -------------------------------------------------------------------------
    def _paint(self, code: str, text: str, stream: TextIO | None = None) -> str:
        on = self.colour_err if stream is self.err and stream is not self.out else self.colour
        return f"{code}{text}{_RESET}" if on else text

    def _write(self, stream: TextIO, line: str, *, end: str = "\n", partial: bool = False) -> None:
        with self._lock:
            me = threading.get_ident()
            if self._partial is not None and not (partial and self._partial == me):
                line = "\n" + line  # an unfinished line (a prompt) is open: end it first
            self._partial = me if end == "" else None
            _put(stream, line + end)

    def _emit(self, stream: TextIO, event: str, text: str, **fields: Any) -> None:
        """A text line, or a JSON object with ``fields`` under --log-format json."""
        if self.json:
            record = {"time": round(time.time(), 3), "event": event, **fields}
            self._write(stream, json.dumps(record, ensure_ascii=False, default=str))
        else:
            self._write(stream, text)

    def partial_ended(self, *, newline: bool = False) -> None:
        """This thread's open partial line ended: by the terminal (the user pressed Enter),
        or, with ``newline``, by the request ending (a newline is written)."""
        with self._lock:
            if self._partial == threading.get_ident():
                self._partial = None
                if newline:
                    _put(self.out, "\n")

    # -- requests ------------------------------------------------------------------------
    def request(self, record: RequestRecord) -> None:
        """The one line for a completed request (for a long-lived one: when it closed)."""
        for watcher in self._watchers:
            watcher.completed(record)
        if self.quiet:
            return
        elapsed = time.perf_counter() - record.started
        if self.json:
            self._emit(
                self.out,
                "close" if record.opened else "request",
                "",
                id=record.request_id,
                method=record.method,
                target=record.target,
                status=record.status,
                duration_ms=round(elapsed * 1000, 3),
                bytes_sent=record.bytes_sent,
                bytes_received=record.bytes_received,
                messages=None if record.messages is None else list(record.messages),
                notes=record.notes,
                error=record.error,
            )
            return
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
        if record.bytes_received is not None:
            parts.append(
                f"(↓{human_bytes(record.bytes_sent)} ↑{human_bytes(record.bytes_received)})"
            )
        if record.messages is not None:
            up, down = record.messages
            parts.append(f"{up + down} messages ({up}↑ {down}↓)")
        if record.opened:
            parts.append("closed")
        if record.notes:
            parts.append(self._paint(_DIM, "[" + ", ".join(record.notes) + "]"))
        if record.error:
            parts.append(self._paint(_STATUS_COLOURS[5], record.error))
        self._write(self.out, " ".join(parts))

    def opened(self, record: RequestRecord, what: str, status: int) -> None:
        """A long-lived connection started (a handoff's 101 or held response): say so now."""
        record.opened = True
        for watcher in self._watchers:
            watcher.opened(record, what, status)
        if self.quiet:
            return
        self._emit(
            self.out,
            "open",
            " ".join(
                [
                    self._paint(_DIM, time.strftime("%H:%M:%S")),
                    self._paint(_DIM, f"#{record.request_id}"),
                    f"{record.method} {record.target}",
                    self._paint(_STATUS_COLOURS.get(status // 100, "") + _BOLD, str(status)),
                    f"open: {what}",
                ]
            ),
            id=record.request_id,
            method=record.method,
            target=record.target,
            status=status,
            what=what,
        )

    def headers(self, request_id: int, direction: str, headers: list[tuple[str, bytes]]) -> None:
        """-v: a head's headers, one per line (``>`` from the client, ``<`` to it)."""
        if self.verbose < 1:
            return
        if self.json:
            pairs = [[n, v.decode("latin-1")] for n, v in headers]
            self._emit(self.out, "headers", "", id=request_id, direction=direction, headers=pairs)
            return
        tag = self._paint(_DIM, f"#{request_id} {direction}")
        for name, value in headers:
            self._write(self.out, f"{tag} {name}: {value.decode('latin-1')}")

    def body(self, request_id: int, direction: str, data: bytes, total: int | None) -> None:
        """-vv: the first :data:`BODY_LIMIT` bytes of a body."""
        if self.verbose < 2:
            return
        size = human_bytes(len(data) if total is None else total)
        self._emit(
            self.out,
            "body",
            self._paint(_DIM, f"#{request_id} {direction} body {size}: ")
            + _preview(data[:BODY_LIMIT], BODY_LIMIT)
            + ("…" if total is not None and total > min(len(data), BODY_LIMIT) else ""),
            id=request_id,
            direction=direction,
            size=total,
            preview=data[:BODY_LIMIT].decode("utf-8", "replace"),
        )

    def backend(
        self,
        backend: str,
        method: str,
        url: str,
        status: int | None,
        started: float,
        *,
        error: str | None = None,
        cache: str | None = None,
    ) -> None:
        """-v: one backend request the app made (``cache``: HIT/MISS/PASS once there is a
        cache); the request it belongs to is :data:`current_request`."""
        if self.verbose < 1:
            return
        request_id = current_request.get()
        elapsed = time.perf_counter() - started
        tag = "" if request_id is None else f"#{request_id} "
        result = error if status is None else str(status)
        text = f"{tag}→ backend {backend}: {method} {url} {result} {human_duration(elapsed)}"
        self._emit(
            self.out,
            "backend",
            self._paint(_DIM, text) + ("" if cache is None else f" [{cache}]"),
            id=request_id,
            backend=backend,
            method=method,
            url=url,
            status=status,
            duration_ms=round(elapsed * 1000, 3),
            error=error,
            cache=cache,
        )

    def ws_message(
        self, request_id: int, direction: str, kind: str, size: int, head: bytes
    ) -> None:
        """--inspect-ws: one WebSocket message (``↑`` client to origin, ``↓`` back)."""
        self._emit(
            self.out,
            "ws",
            self._paint(_DIM, f"#{request_id} ws {direction}")
            + f" {kind} {human_bytes(size)} {_preview(head, 60)}",
            id=request_id,
            direction=direction,
            type=kind,
            size=size,
            head=head[:60].decode("utf-8", "replace"),
        )

    # -- the app's output ------------------------------------------------------------------
    def app_output(self, request_id: int, line: str, *, continued: bool = False) -> None:
        """A line the app printed while handling request ``request_id`` (``continued``: the
        rest of a line whose start was already written)."""
        for watcher in self._watchers:
            watcher.app_output(request_id, line, continued=continued, partial=False)
        if self.json:
            self._emit(self.out, "app", "", id=request_id, line=line)
        elif continued:
            self._write(self.out, line, partial=True)
        else:
            self._write(self.out, self._paint(_DIM, f"#{request_id} |") + " " + line)

    def app_partial(self, request_id: int, text: str, *, continued: bool = False) -> None:
        """An unfinished line the app flushed (a prompt): written now, without a newline."""
        for watcher in self._watchers:
            watcher.app_output(request_id, text, continued=continued, partial=True)
        if self.json:
            self._emit(self.out, "app", "", id=request_id, line=text, partial=True)
            return
        prefix = "" if continued else self._paint(_DIM, f"#{request_id} |") + " "
        self._write(self.out, prefix + text, end="", partial=True)

    # -- status lines ----------------------------------------------------------------------
    def info(self, message: str) -> None:
        """A normal status line (start-up, shutdown)."""
        self._emit(self.out, "info", message, level="info", message=message)

    def debug(self, message: str) -> None:
        """Detail shown with --verbose."""
        if self.verbose:
            self._emit(
                self.out, "debug", self._paint(_DIM, message), level="debug", message=message
            )

    def warning(self, message: str) -> None:
        """Something the user should know about; stderr."""
        text = self._paint(_YELLOW, "warning: ", self.err) + message
        self._emit(self.err, "warning", text, level="warning", message=message)

    def error(self, message: str) -> None:
        """Something failed; stderr."""
        text = self._paint(_STATUS_COLOURS[5], "error: ", self.err) + message
        self._emit(self.err, "error", text, level="error", message=message)


def _real_stream(stream: TextIO) -> TextIO:
    """The stream under an :class:`AppOutput` (the log must never write into itself)."""
    return stream._passthrough if isinstance(stream, AppOutput) else stream
