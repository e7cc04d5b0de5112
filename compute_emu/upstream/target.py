"""Where a backend request goes and what it says: Viceroy's rules as pure functions.

- The connection goes to the backend URL's host:port; the request URL never picks it.
- ``Host`` is ``override_host``, else the request's Host header, else the URL authority.
- The backend URL path is a prefix: ``http://h/api`` + ``/x?q`` -> ``/api/x?q``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..manifest import BackendConfig


@dataclass(frozen=True)
class UpstreamTarget:
    """Everything needed to open a connection and write a request head for one backend call."""

    host: str  # where to connect
    port: int
    tls: bool
    server_hostname: str | None  # TLS name to verify / send as SNI
    request_target: str  # origin-form: path and query
    host_header: str
    connect_timeout: float | None = None  # seconds; None: the client's default

    @property
    def pool_key(self) -> tuple[str, int, bool, str | None]:
        """Connections can be reused between requests with the same key."""
        return (self.host, self.port, self.tls, self.server_hostname)


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


def backend_target(backend: BackendConfig, url: str, host_header: str | None) -> UpstreamTarget:
    """Apply Viceroy's backend rules to a request for ``url`` carrying ``host_header``."""
    host = backend.override_host or host_header or urlsplit(url).netloc or backend.authority
    tls = backend.scheme == "https"
    server_hostname = None
    if tls:
        server_hostname = backend.cert_host or backend.host
    return UpstreamTarget(
        host=backend.host,
        port=backend.port,
        tls=tls,
        server_hostname=server_hostname,
        request_target=join_prefix(backend.path_prefix, path_and_query(url)),
        host_header=host,
        connect_timeout=None
        if backend.connect_timeout_ms is None
        else backend.connect_timeout_ms / 1000,
    )
