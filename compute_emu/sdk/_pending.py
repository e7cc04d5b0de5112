"""Asynchronous backend requests (mirrors ``fastly::http::request::{PendingRequest, select}``).

Differences from Rust: ``poll()`` returns the ``Response`` when it is ready and ``None``
otherwise (Rust returns ``PollResult``), raising ``SendError`` on failure; ``select`` returns
``(result, remaining)`` where ``result`` is a ``Response`` or the ``SendError`` (Rust's
``Result``), so the other requests are never lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._body_streams import gunzip_if_asked
from ._errors import SendError
from ._host import current_host
from ._interface import Handle
from ._response import Response

if TYPE_CHECKING:
    from ._request import Request


class PendingRequest:
    """A backend request in flight; several run at the same time."""

    def __init__(self, handle: Handle, request: Request) -> None:
        self._handle = handle  # the host's token for this request
        self._request = request

    def wait(self) -> Response:
        """Block until the response head arrives; raises ``SendError``."""
        value = current_host("PendingRequest.wait()").wait_pending(self._handle)
        response = Response._from_backend_response(value, self._request)
        return gunzip_if_asked(self._request, response)

    def poll(self) -> Response | None:
        """The response if it has arrived, else ``None`` (never blocks)."""
        ready = current_host("PendingRequest.poll()").pending_ready(self._handle)
        return self.wait() if ready else None

    def is_ready(self) -> bool:
        """True once ``wait()`` would not block."""
        return current_host("PendingRequest.is_ready()").pending_ready(self._handle)

    def sent_req(self) -> Request:
        """The request that was sent."""
        return self._request


def select(
    pending: Iterable[PendingRequest],
) -> tuple[Response | SendError, list[PendingRequest]]:
    """Wait for the first of ``pending`` to finish: ``(its result, the others)``."""
    requests = list(pending)
    if not requests:
        raise ValueError("select() needs at least one pending request")
    host = current_host("select()")
    index = host.select([p._handle for p in requests])
    done = requests.pop(index)
    try:
        result: Response | SendError = done.wait()
    except SendError as exc:
        result = exc
    return result, requests
