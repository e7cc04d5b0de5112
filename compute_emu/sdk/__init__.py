"""compute_emu.sdk: the API a Python Fastly Compute app uses, mirroring the Rust ``fastly`` crate.

An app calls ``Request.from_client()``, builds or forwards requests with ``Request.send(backend)``
or hands the connection off (``handoff_fanout``/``handoff_websocket``), and answers with
``Response.send_to_client()``. The SDK does no I/O itself: everything that touches the outside
world goes through the host the runtime binds around ``main()`` (see ``_host.py``).

Method names follow Rust. Deliberate differences:

- Header getters return ``str`` (UTF-8, invalid bytes replaced) instead of ``HeaderValue``;
  ``get_header_bytes`` gives the raw bytes. Names from ``get_header_names``/``get_headers`` are
  lowercased, as Rust's ``HeaderName`` is.
- Panics become Python exceptions: ``RuntimeError`` for programming errors (a second
  ``from_client()`` or ``send_to_client()``, SDK calls outside a running request),
  ``UnicodeDecodeError`` where Rust panics on non-UTF-8 (``get_header_str``, ``into_body_str``),
  ``ValueError`` for invalid names, values, URLs and statuses. ``Result`` errors such as
  ``SendError`` are raised, not returned.
- Enum member names are CamelCase as in Rust (``SendErrorCause.ConnectionRefused``).
- ``into_*`` methods cannot consume ``self``; they take the body, leaving an empty one.
- Versions are strings (``"HTTP/1.1"``), URLs are ``urllib.parse.SplitResult``, client IPs are
  ``ipaddress`` objects, statuses are ``int``.
"""

from ._backend import Backend as Backend
from ._backend import BackendBuilder as BackendBuilder
from ._backend import BackendCreationError as BackendCreationError
from ._backend import BackendError as BackendError
from ._backend import BackendHealth as BackendHealth
from ._body import Body as Body
from ._errors import SendError as SendError
from ._errors import SendErrorCause as SendErrorCause
from ._headers import HeaderMap as HeaderMap
from ._log import Endpoint as Endpoint
from ._log import EndpointHandler as EndpointHandler
from ._log import LogError as LogError
from ._pending import PendingRequest as PendingRequest
from ._pending import select as select
from ._request import Request as Request
from ._response import Response as Response
from ._streaming import StreamingBody as StreamingBody

__all__ = [
    "Backend",
    "BackendBuilder",
    "BackendCreationError",
    "BackendError",
    "BackendHealth",
    "Body",
    "Endpoint",
    "EndpointHandler",
    "HeaderMap",
    "LogError",
    "PendingRequest",
    "Request",
    "Response",
    "SendError",
    "SendErrorCause",
    "StreamingBody",
    "select",
]
