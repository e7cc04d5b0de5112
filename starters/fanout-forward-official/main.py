"""Fanout forwarding starter kit for Fastly's official Python SDK (``fastly-compute``).

A port of compute-starter-kit-rust-fanout-forward: hands WebSocket, GET and HEAD requests
through Fanout to the backend "origin"; other requests are sent to "origin" normally. The SDK
does not wrap Fanout, so this is a raw ``HttpIncoming`` on the WIT bindings.
"""

import os

import fastly_compute  # noqa: F401  (makes WIT errors raise the SDK's exceptions)
from wit_world import exports
from wit_world.imports import async_io, backend, http_req, http_resp


class HttpIncoming(exports.HttpIncoming):
    def handle(self, request: http_req.Request, body: async_io.Pollable) -> None:
        # Log service version.
        print(f"FASTLY_SERVICE_VERSION: {os.environ.get('FASTLY_SERVICE_VERSION', '')}")

        method = request.get_method(16)
        upgrade = request.get_header_value("upgrade", 1024) or b""
        origin = backend.Backend.open("origin")

        use_fanout = False
        if method == "GET" and upgrade.lower() == b"websocket":
            # If a GET request contains "Upgrade: websocket" in its headers, then hand off to
            # Fanout to handle as WebSocket-over-HTTP.
            # For details on WebSocket-over-HTTP, see https://pushpin.org/docs/protocols/websocket-over-http/
            use_fanout = True
        elif method in ("GET", "HEAD"):
            # If it's a GET or HEAD request, then hand off to Fanout. The backend response can
            # include GRIP control messages to specify connection behavior.
            # For details on GRIP, see https://pushpin.org/docs/protocols/grip/.

            # NOTE: In an actual app we would be selective about which requests are handed off
            # to Fanout, because requests that are handed off to Fanout do not pass through the
            # Fastly cache. For example, we may examine the request path or the existence of
            # certain headers. See
            # https://www.fastly.com/documentation/guides/concepts/real-time-messaging/fanout/#what-to-hand-off-to-fanout

            # TODO: add any additional conditions before setting use_fanout to True

            use_fanout = True

        if use_fanout:
            # Hand off the request through Fanout to the specified backend.
            request.redirect_to_grip_proxy(origin)
        else:
            # Send the request to the specified backend normally.
            response, response_body = http_req.send(request, body, origin)
            http_resp.send_downstream(response, response_body)
