"""Where a backend request goes and what it says: Viceroy's rules.

- The connection goes to the backend URL's host:port; the request URL never picks it.
- ``Host`` is ``override_host``, else the request's Host header, else the URL authority.
- The backend URL path is a prefix: ``http://h/api`` + ``/x?q`` -> ``/api/x?q``.
- Hop-by-hop headers (and those the ``Connection`` header names), ``Expect`` and the
  request's own framing are not forwarded; the framing is rebuilt for the body sent. The
  app's ``Connection`` header itself goes on when all it says is ``keep-alive`` or ``close``
  (Viceroy forwards every header of the app's but the framing, src/http/filtering.rs: an app
  that copies a browser's ``Connection: keep-alive`` sends it on; other options name headers
  that are dropped, or ask for an upgrade ``send()`` does not do).
- Header names go out in lower case, as hyper writes them (``rules/http1_client.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .framing import FRAMING, HOP_BY_HOP, Headers, body_headers, connection_tokens, strip_headers

if TYPE_CHECKING:
    from ..manifest.model import BackendConfig

NOT_FORWARDED = frozenset({"host", "expect"})  # besides hop-by-hop and framing headers
CONNECTION_OPTIONS = frozenset({"keep-alive", "close"})  # a Connection header that goes on


@dataclass(frozen=True, slots=True)
class Destination:
    """Where to connect (never taken from the request URL)."""

    host: str
    port: int
    tls: bool = False
    server_hostname: str | None = None  # TLS name to verify / send as SNI
    connect_timeout: float | None = None  # seconds; None: the client's default

    @property
    def label(self) -> str:
        """``host:port``, as logs and error texts name it."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """A request head compute-emu sends, and where it goes."""

    destination: Destination
    method: str
    target: str  # origin-form: path and query
    headers: Headers


def join_prefix(prefix: str, path_and_query: str) -> str:
    """Prepend a backend path prefix without doubling ``/``: ``/api`` + ``/x`` -> ``/api/x``."""
    if not path_and_query.startswith("/"):
        path_and_query = "/" + path_and_query
    return prefix.rstrip("/") + path_and_query


def path_and_query(url: str) -> str:
    """The origin-form target of an absolute URL."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def backend_destination(backend: BackendConfig) -> Destination:
    """Where requests to ``backend`` connect: its URL's host and port, TLS for https."""
    tls = backend.scheme == "https"
    timeout = backend.connect_timeout_ms
    return Destination(
        host=backend.host,
        port=backend.port,
        tls=tls,
        server_hostname=(backend.cert_host or backend.host) if tls else None,
        connect_timeout=None if timeout is None else timeout / 1000,
    )


def host_header(backend: BackendConfig, url: str, request_host: bytes | None) -> str:
    """``override_host``, else the request's Host header, else the URL's authority."""
    if backend.override_host:
        return backend.override_host
    if request_host:
        return request_host.decode("latin-1")
    return urlsplit(url).netloc or backend.authority


def backend_request(
    backend: BackendConfig,
    method: str,
    url: str,
    headers: Headers,
    body_length: int | None,
) -> OutgoingRequest:
    """The request ``send()`` makes for an app request (``body_length`` None: streamed)."""
    host = None
    for name, value in headers:
        if name.lower() == "host":
            host = value
            break
    options = connection_tokens(headers)
    drop = HOP_BY_HOP | FRAMING | NOT_FORWARDED | options
    if options and options <= CONNECTION_OPTIONS:
        drop -= {"connection"}
    out: Headers = [("Host", host_header(backend, url, host).encode("latin-1"))]
    out += strip_headers(headers, drop)
    out += body_headers(method, body_length)
    return OutgoingRequest(
        destination=backend_destination(backend),
        method=method,
        target=join_prefix(backend.path_prefix, path_and_query(url)),
        headers=out,
    )
