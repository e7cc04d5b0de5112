"""The one narrow interface between the SDK and whatever runs the app.

The SDK never touches sockets. Every call that needs the outside world (the client request,
backends, the client response, handoffs) goes through the :class:`Host` bound to the current
request. The runtime binds a real host around ``main()``; tests can bind a fake one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ..manifest import BackendConfig
    from ..platform import Platform
    from ._body import BodyStream
    from ._request import Request
    from ._response import Response
    from ._streaming import StreamSink

HandoffKind = Literal["fanout", "websocket"]


@dataclass(frozen=True)
class ClientRequestParts:
    """What the host hands over for ``Request.from_client()``."""

    method: str
    url: str  # absolute, e.g. http://127.0.0.1:7676/path?q
    version: str  # "1.1" or "1.0"
    headers: list[tuple[str, bytes]]  # in arrival order, names as the client sent them
    body: BodyStream | None  # None: no body
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    request_id: str | None = None  # for get_client_request_id(), e.g. f"{n:032x}"
    server_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None  # local address


class Host(Protocol):
    """What the SDK needs from the runtime. All methods block the calling (app) thread."""

    @property
    def platform(self) -> Platform:
        """The stores and lookups of this server (shared by every request)."""
        ...

    def take_client_request(self) -> ClientRequestParts:
        """The client request; raises ``RuntimeError`` on a second call."""
        ...

    def send(self, request: Request, backend: str) -> Response:
        """Send ``request`` to a named backend; raises ``SendError``."""
        ...

    def send_to_client(self, response: Response) -> None:
        """Start sending ``response`` downstream; raises ``RuntimeError`` if one was sent."""
        ...

    def handoff(self, request: Request, backend: str, kind: HandoffKind) -> None:
        """Hand the client connection off (Fanout or WebSocket passthrough)."""
        ...

    def send_async(self, request: Request, backend: str) -> Any:
        """Start sending; returns a token with ``is_done()`` for ``wait_pending``/``select``."""
        ...

    def wait_pending(self, token: Any) -> Response:
        """The response of a request started with ``send_async``; raises ``SendError``."""
        ...

    def select(self, tokens: list[Any]) -> int:
        """Index of the first started request that is done (waits for one)."""
        ...

    def stream_to_client(self, response: Response) -> StreamSink:
        """Send the response head now; the body follows through the returned sink."""
        ...

    def log_write(self, endpoint: str, line: str) -> None:
        """One line to a log endpoint (already escaped)."""
        ...

    def backend_config(self, name: str) -> BackendConfig | None:
        """A static or dynamic backend by name."""
        ...

    def register_backend(self, config: BackendConfig) -> bool:
        """Add a dynamic backend for the request; False if the name is taken."""
        ...


_current: ContextVar[Host | None] = ContextVar("compute_emu_host", default=None)
_cpu_start: ContextVar[float] = ContextVar("compute_emu_cpu_start", default=0.0)


def current_host(what: str) -> Host:
    """The host of the running request, or a clear error naming the call ``what``."""
    host = _current.get()
    if host is None:
        raise RuntimeError(
            f"{what} needs a running request: call it from main() under `compute-emu serve`"
        )
    return host


@contextlib.contextmanager
def bind_host(host: Host) -> Iterator[None]:
    """Make ``host`` the current host for the duration of the block (in this thread/context).

    The thread's CPU time at the start is kept for ``compute_runtime.elapsed_vcpu_ms()``.
    """
    from . import log  # imports this module

    token = _current.set(host)
    cpu = _cpu_start.set(time.thread_time())
    panic = log._panic_endpoint.set(None)
    try:
        yield
    except BaseException as exc:
        _report_panic(log.panic_endpoint(), exc)
        raise
    finally:
        log._panic_endpoint.reset(panic)
        _cpu_start.reset(cpu)
        _current.reset(token)


def _report_panic(endpoint: Any, exc: BaseException) -> None:
    """The traceback of what escaped ``main()``, to the panic endpoint if one was set."""
    if endpoint is None:
        return
    import traceback

    with contextlib.suppress(Exception):
        for line in "".join(traceback.format_exception(exc)).rstrip().splitlines():
            endpoint.write(line)


def cpu_seconds() -> float:
    """CPU time this thread has used since the current host was bound (0 outside one)."""
    if _current.get() is None:
        return 0.0
    return max(0.0, time.thread_time() - _cpu_start.get())
