"""Log endpoints (mirrors ``fastly::log``): ``Endpoint``, ``LogError``, ``set_panic_endpoint``.

``set_panic_endpoint(name)`` also writes the traceback of an exception that escapes ``main()``
to that endpoint, one line per traceback line, as Rust sends the panic message there.
compute-emu still answers 500 and shows the traceback in its own log as usual.
"""

from __future__ import annotations

from ._host import panic_endpoint as _panic_endpoint
from ._log import Endpoint, EndpointHandler, LogError


def set_panic_endpoint(endpoint: str | Endpoint) -> None:
    """Send the traceback of an uncaught exception in ``main()`` to ``endpoint`` too."""
    _panic_endpoint.set(endpoint if isinstance(endpoint, Endpoint) else Endpoint(endpoint))


def panic_endpoint() -> Endpoint | None:
    """The endpoint set by :func:`set_panic_endpoint` in this request, if any."""
    endpoint = _panic_endpoint.get()
    return endpoint if isinstance(endpoint, Endpoint) else None


__all__ = ["Endpoint", "EndpointHandler", "LogError", "panic_endpoint", "set_panic_endpoint"]
