"""What a handed-off request looks like on the wire: Viceroy's rules as pure functions.

Fanout (``handoff_fanout``): a new HTTP/1.1 request to Pushpin on 127.0.0.1, with the method and
path+query of the request the app handed off, its headers except the protected ones (which
keep the client's values), ``Host: 127.0.0.1:PORT`` and ``Pushpin-Route: BACKEND``; Pushpin
applies the backend's path prefix. WebSocket passthrough (``handoff_websocket``) goes straight
to the backend instead: Host is ``override_host`` or the backend authority with its port, and
the backend URL path is prepended.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..manifest import BackendConfig
from .target import UpstreamTarget, join_prefix, path_and_query

# Headers whose values always come from the client's own request (Viceroy src/handoff.rs).
PROTECTED = frozenset(
    {
        "host",
        "connection",
        "sec-websocket-version",
        "sec-websocket-key",
        "upgrade",
        "pushpin-route",
        "content-length",
        "content-range",
        "expect",
        "fastly-ff",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "cdn-loop",
    }
)


@dataclass(frozen=True)
class HandoffTarget:
    """Where a handoff connects and the head of the request it sends."""

    host: str
    port: int
    tls: bool
    server_hostname: str | None
    method: str
    request_target: str
    headers: list[tuple[str, bytes]]

    @property
    def connection(self) -> UpstreamTarget:
        """Where to connect (and how), for the connection pool."""
        return UpstreamTarget(
            host=self.host,
            port=self.port,
            tls=self.tls,
            server_hostname=self.server_hostname,
            request_target=self.request_target,
            host_header="",
        )

    @property
    def label(self) -> str:
        """How the log names the destination."""
        return f"{self.host}:{self.port}"


def merge_headers(
    client: list[tuple[str, bytes]], app: list[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    """The app's headers minus protected ones, plus the client's protected ones (not Host)."""
    kept = [(n, v) for n, v in client if n.lower() in PROTECTED and n.lower() != "host"]
    return kept + [(n, v) for n, v in app if n.lower() not in PROTECTED]


def fanout_target(
    proxy_port: int,
    backend: str,
    method: str,
    url: str,
    client_headers: list[tuple[str, bytes]],
    app_headers: list[tuple[str, bytes]],
) -> HandoffTarget:
    """The request a Fanout handoff sends to Pushpin's proxy port."""
    authority = f"127.0.0.1:{proxy_port}"
    headers = [("Host", authority.encode())]
    headers += merge_headers(client_headers, app_headers)
    headers.append(("Pushpin-Route", backend.encode()))
    return HandoffTarget(
        host="127.0.0.1",
        port=proxy_port,
        tls=False,
        server_hostname=None,
        method=method,
        request_target=path_and_query(url),
        headers=headers,
    )


def websocket_target(
    backend: BackendConfig,
    method: str,
    url: str,
    client_headers: list[tuple[str, bytes]],
    app_headers: list[tuple[str, bytes]],
) -> HandoffTarget:
    """The request a WebSocket passthrough sends straight to the backend."""
    host = backend.override_host or backend.authority
    headers = [("Host", host.encode())]
    headers += merge_headers(client_headers, app_headers)
    tls = backend.scheme == "https"
    return HandoffTarget(
        host=backend.host,
        port=backend.port,
        tls=tls,
        server_hostname=(backend.cert_host or backend.host) if tls else None,
        method=method,
        request_target=join_prefix(backend.path_prefix, path_and_query(url)),
        headers=headers,
    )
