"""The request log of an emulator, kept for the test: each request with the app's output."""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..log import RequestLog, RequestRecord


@dataclass
class LoggedRequest:
    """One request as compute-emu logged it when it completed.

    ``output`` holds the lines ``main()`` printed while handling it (stdout and stderr), in
    order; ``notes`` what the log line shows in brackets (``send→origin``, ``fanout→origin``).
    """

    id: int
    method: str
    target: str
    status: int | None
    bytes_sent: int
    duration: float
    notes: list[str]
    error: str | None
    output: list[str] = field(default_factory=list)


class RecordingLog(RequestLog):
    """A :class:`RequestLog` writing to a buffer (``text``) that also keeps each request."""

    def __init__(self, *, verbose: bool = False) -> None:
        self._rec_buffer = io.StringIO()
        super().__init__(self._rec_buffer, self._rec_buffer, colour=False, verbose=verbose)
        self._rec_changed = threading.Condition()
        self.requests: list[LoggedRequest] = []
        self._rec_output: dict[int, list[str]] = {}
        self._rec_partial: dict[int, str] = {}
        self._rec_claimed: set[int] = set()

    @property
    def text(self) -> str:
        """Everything logged so far, as ``compute-emu serve`` would have printed it."""
        with self._lock:
            return self._rec_buffer.getvalue()

    def output_of(self, request_id: int) -> list[str]:
        """The lines the app printed for a request (the live list: it may still grow)."""
        with self._rec_changed:
            return self._rec_output.setdefault(request_id, [])

    def request(self, record: RequestRecord) -> None:
        super().request(record)
        with self._rec_changed:
            entry = LoggedRequest(
                id=record.request_id,
                method=record.method,
                target=record.target,
                status=record.status,
                bytes_sent=record.bytes_sent,
                duration=time.perf_counter() - record.started,
                notes=list(record.notes),
                error=record.error,
                output=self._rec_output.setdefault(record.request_id, []),
            )
            self.requests.append(entry)
            self._rec_changed.notify_all()

    def app_output(self, request_id: int, line: str, **kwargs: Any) -> None:
        super().app_output(request_id, line, **kwargs)
        with self._rec_changed:
            start = self._rec_partial.pop(request_id, "") if kwargs.get("continued") else ""
            self._rec_output.setdefault(request_id, []).append(start + line)

    def app_partial(self, request_id: int, text: str, **kwargs: Any) -> None:
        """An unfinished line (a prompt): kept until the rest of the line comes."""
        base = getattr(super(), "app_partial", None)
        if base is not None:
            base(request_id, text, **kwargs)
        with self._rec_changed:
            start = self._rec_partial.get(request_id, "") if kwargs.get("continued") else ""
            self._rec_partial[request_id] = start + text

    def wait_for(self, method: str, target: str, since: int, timeout: float) -> LoggedRequest:
        """The first not yet claimed request ``method target`` logged at index ``since`` or
        later (waiting for it up to ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._rec_changed:
            while True:
                for index in range(since, len(self.requests)):
                    entry = self.requests[index]
                    matches = entry.method == method and entry.target == target
                    if matches and index not in self._rec_claimed:
                        self._rec_claimed.add(index)
                        return entry
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no log line for {method} {target} within {timeout}s")
                self._rec_changed.wait(remaining)

    def count(self) -> int:
        """How many requests have been logged."""
        with self._rec_changed:
            return len(self.requests)
