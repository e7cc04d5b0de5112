"""What a handed-off request looks like on the wire: Viceroy's rules, made safe.

Fanout (``handoff_fanout``): a new HTTP/1.1 request to Pushpin on 127.0.0.1 with the method
and path+query of the request the app handed off, its headers except the protected ones
(which keep the client's values), ``Host: 127.0.0.1:PORT`` and exactly one
``Pushpin-Route: BACKEND``; Pushpin applies the backend's path prefix. WebSocket passthrough
(``handoff_websocket``) goes straight to the backend instead: Host is ``override_host`` or the
backend authority with its port, and the backend URL path is prepended.

Two departures from a literal reading of Viceroy, both for safety: the client's own
``Pushpin-Route`` is never kept (Viceroy replaces it too: the route is the app's backend, and
no route compute-emu adds for itself is reachable from a client), and the client's body
framing goes on as the framing it declared, spelt the one way ``send()`` spells it too
(:func:`~compute_emu.rules.framing.framing_headers`: ``content-length: 5`` for a client's
``Content-Length: 5, 5``, ``transfer-encoding: chunked`` for its ``Chunked``), so that the
next hop cannot read the body another way than compute-emu did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backend import Destination, OutgoingRequest, backend_destination, join_prefix, path_and_query
from .framing import FRAMING, Framing, Headers, framing_headers

if TYPE_CHECKING:
    from ..manifest.model import BackendConfig

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
# Protected headers compute-emu sets itself: neither the client's nor the app's go on.
REPLACED = frozenset({"host", "pushpin-route"})


def merge_headers(client: Headers, app: Headers, framing: Framing) -> Headers:
    """The client's protected headers (but Host and Pushpin-Route), then the app's others,
    then the client body's ``framing`` (as the front door's parser decided it), spelt the one
    way ``send()`` spells it."""
    dropped = REPLACED | FRAMING
    kept = [(n, v) for n, v in client if n.lower() in PROTECTED and n.lower() not in dropped]
    return kept + [(n, v) for n, v in app if n.lower() not in PROTECTED] + framing_headers(framing)


def fanout_request(
    proxy_port: int,
    backend: str,
    method: str,
    url: str,
    client_headers: Headers,
    app_headers: Headers,
    framing: Framing,
) -> OutgoingRequest:
    """The request a Fanout handoff sends to Pushpin's proxy port (``framing``: the client
    body's, as the front door's parser decided it)."""
    authority = f"127.0.0.1:{proxy_port}"
    headers: Headers = [("Host", authority.encode())]
    headers += merge_headers(client_headers, app_headers, framing)
    headers.append(("Pushpin-Route", backend.encode()))
    return OutgoingRequest(
        destination=Destination(host="127.0.0.1", port=proxy_port),
        method=method,
        target=path_and_query(url),
        headers=headers,
    )


def websocket_request(
    backend: BackendConfig,
    method: str,
    url: str,
    client_headers: Headers,
    app_headers: Headers,
    framing: Framing,
) -> OutgoingRequest:
    """The request a WebSocket passthrough sends straight to the backend (``framing``: the
    client body's, as the front door's parser decided it)."""
    host = backend.override_host or backend.authority
    headers: Headers = [("Host", host.encode("latin-1"))]
    headers += merge_headers(client_headers, app_headers, framing)
    return OutgoingRequest(
        destination=backend_destination(backend),
        method=method,
        target=join_prefix(backend.path_prefix, path_and_query(url)),
        headers=headers,
    )
