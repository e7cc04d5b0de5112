"""Fanout starter kit for Python (a port of compute-starter-kit-rust-fanout).

Requests go through Fanout to the backend "origin". Requests for /test/* on the service's own
domain are answered by this app itself, without an origin: the app hands them to Fanout with
the backend "self" (this same app), and when Fanout calls back with a signed request (Grip-Sig)
the app answers with GRIP instructions that hold the connection on channel "test".
"""

import base64
import hashlib
import hmac
import json
import os
import time

from compute_emu.sdk import Request, Response

# What Fanout signs Grip-Sig with. These are the local values of `fastly compute serve` and
# compute-emu. Production Fanout signs with ES256 and iss "fastly:<service id>": replace
# grip_sig_is_valid() with a check against Fastly's public key before deploying.
GRIP_KEY = os.environ.get("GRIP_KEY", "viceroy_dev_signing_key_dont_use_in_production")
GRIP_ISS = os.environ.get("GRIP_ISS", "viceroy")

# The Rust kit serves /test/* only on the service's own *.edgecompute.app domain; locally the
# app is reached as localhost (and Fanout calls it back as localhost through the "self" backend).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def grip_response(content_type: str, hold: str, channel: str) -> Response:
    """A GRIP response that tells Fanout to hold the connection, subscribed to ``channel``.

    When a plain HTTP request should become long-lived (a stream or a long-poll), the app hands
    it off to Fanout, and Fanout forwards it to the nominated backend. Here that backend is this
    same app, which answers with these Grip headers to have Fanout hold the connection.
    """
    return (
        Response.from_status(200)
        .with_header("Content-Type", content_type)
        .with_header("Grip-Hold", hold)
        .with_header("Grip-Channel", channel)
        .with_body("")
    )


def ws_event(event_type: str, content: bytes | None = None) -> bytes:
    """One WebSocket-over-HTTP event: ``TYPE\\r\\n`` or ``TYPE <hex len>\\r\\n<content>\\r\\n``."""
    if content is None:
        return f"{event_type}\r\n".encode()
    return f"{event_type} {len(content):x}\r\n".encode() + content + b"\r\n"


def ws_sub(channel: str) -> bytes:
    """A TEXT event carrying the control message that subscribes the connection to ``channel``."""
    control = json.dumps({"type": "subscribe", "channel": channel})
    return ws_event("TEXT", f"c:{control}".encode())


def ws_events(body: bytes) -> list[tuple[str, bytes | None]]:
    """Split a WebSocket-over-HTTP body into ``(type, content)`` events."""
    events = []
    while body:
        line, _, body = body.partition(b"\r\n")
        event_type, _, size = line.decode("ascii").partition(" ")
        content = None
        if size:
            length = int(size, 16)
            content, body = body[:length], body[length + 2 :]
        events.append((event_type, content))
    return events


def handle_fanout_ws(req: Request, channel: str) -> Response:
    if req.get_header("Content-Type") != "application/websocket-events":
        return Response.from_status(400).with_body("Not a WebSocket-over-HTTP request.\n")

    resp = Response.from_status(200).with_header("Content-Type", "application/websocket-events")
    out = b""
    for event_type, content in ws_events(req.take_body_bytes()):
        if event_type == "OPEN":
            # Accept the connection and subscribe it to the channel.
            out += ws_event("OPEN") + ws_sub(channel)
            # "In order to enable GRIP functionality, the backend must include the grip
            # extension in its response." (https://pushpin.org/docs/protocols/grip/#websocket)
            # message-prefix="" delivers messages without the default "m:" prefix.
            resp.set_header("Sec-WebSocket-Extensions", 'grip; message-prefix=""')
        elif event_type in ("TEXT", "BINARY", "CLOSE"):
            # Echo messages back (and answer a close with a close).
            out += ws_event(event_type, content)
    return resp.with_body(out)


def handle_test(req: Request, channel: str) -> Response:
    path = req.get_path()
    if path == "/test/long-poll":
        # Without a publish, Fanout answers with this (empty) response after Grip-Timeout.
        return grip_response("text/plain", "response", channel).with_header("Grip-Timeout", "20")
    if path == "/test/stream":
        return grip_response("text/plain", "stream", channel)
    if path == "/test/sse":
        return grip_response("text/event-stream", "stream", channel)
    if path == "/test/websocket":
        return handle_fanout_ws(req, channel)
    return Response.from_status(404).with_body("No such test endpoint\n")


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def grip_sig_is_valid(token: str) -> bool:
    """Whether ``token`` is an HS256 JWT signed with GRIP_KEY, from GRIP_ISS, not expired."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(_b64url(header_part))
        claims = json.loads(_b64url(claims_part))
        signature = _b64url(signature_part)
        signed = f"{header_part}.{claims_part}".encode("ascii")
    except ValueError:  # wrong shape, bad base64 or JSON, non-ASCII
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return False
    expected = hmac.new(GRIP_KEY.encode(), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected) or not isinstance(claims, dict):
        return False
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= time.time():
        return False
    return claims.get("iss") == GRIP_ISS


def main() -> None:
    # Log service version.
    print(f"FASTLY_SERVICE_VERSION: {os.environ.get('FASTLY_SERVICE_VERSION', '')}")

    req = Request.from_client()

    host = req.get_url().hostname or ""
    path = req.get_path()

    if (addr := req.get_client_ip_addr()) is not None:
        req.set_header("X-Forwarded-For", str(addr))

    if req.get_url().scheme == "https":
        req.set_header("X-Forwarded-Proto", "https")

    # Request is a test request - from a client, or from Fanout.
    if (host.endswith(".edgecompute.app") or host in LOCAL_HOSTS) and path.startswith("/test/"):
        grip_sig = req.get_header("Grip-Sig")
        if grip_sig is not None and grip_sig_is_valid(grip_sig):
            # Request is from Fanout: handle it here.
            handle_test(req, "test").send_to_client()
        else:
            # Not from Fanout: route it through Fanout first (Fanout replaces any Grip-Sig the
            # client sent with its own).
            req.handoff_fanout("self")
        return

    # Forward all non-test requests through Fanout to the origin.
    req.handoff_fanout("origin")
