"""Fanout forwarding starter kit for Python (a port of compute-starter-kit-rust-fanout-forward).

Hands WebSocket, GET and HEAD requests through Fanout to the backend "origin"; other requests
are sent to "origin" normally.
"""

import os

from compute_emu.sdk import Request


def main() -> None:
    # Log service version.
    print(f"FASTLY_SERVICE_VERSION: {os.environ.get('FASTLY_SERVICE_VERSION', '')}")

    req = Request.from_client()

    use_fanout = False

    if req.get_method() == "GET" and any(
        value == "websocket" for value in req.get_header_all("upgrade")
    ):
        # If a GET request contains "Upgrade: websocket" in its headers, then hand off to Fanout
        # to handle as WebSocket-over-HTTP.
        # For details on WebSocket-over-HTTP, see https://pushpin.org/docs/protocols/websocket-over-http/
        use_fanout = True
    elif req.get_method() in ("GET", "HEAD"):
        # If it's a GET or HEAD request, then hand off to Fanout.
        # The backend response can include GRIP control messages to specify connection behavior.
        # For details on GRIP, see https://pushpin.org/docs/protocols/grip/.

        # NOTE: In an actual app we would be selective about which requests are handed off to
        # Fanout, because requests that are handed off to Fanout do not pass through the Fastly
        # cache. For example, we may examine the request path or the existence of certain headers.
        # See https://www.fastly.com/documentation/guides/concepts/real-time-messaging/fanout/#what-to-hand-off-to-fanout

        # TODO: add any additional conditions before setting use_fanout to True

        use_fanout = True

    if use_fanout:
        # Hand off the request through Fanout to the specified backend.
        req.handoff_fanout("origin")
    else:
        # Send the request to the specified backend normally.
        req.send("origin").send_to_client()
