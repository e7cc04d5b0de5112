"""A real GRIP origin for end-to-end tests, built on Fanout's `gripcontrol` library.

`python -m tests.support.grip_origin [KEY] [ISS]` listens on 127.0.0.1:0, prints `PORT <n>`.
Every response carries `X-Grip-Sig: valid|invalid|missing` (checked with gripcontrol) and
`X-Seen-Path`/`X-Seen-Host`. Routes (by the last path segment, so prefixes don't matter):
  stream   Grip-Hold: stream on channel "test" (text), first body "stream open\\n"
  events   SSE: Grip-Hold: stream on "test", text/event-stream
  poll     Grip-Hold: response on "test", Grip-Timeout 5, body "timeout\\n"
  ws       WebSocket-over-HTTP: accepts, subscribes to "test", echoes TEXT as "echo: ..."
  info     plain JSON: path, host, grip-sig, method, body
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gripcontrol

KEY = sys.argv[1] if len(sys.argv) > 1 else "viceroy_dev_signing_key_dont_use_in_production"
ISS = sys.argv[2] if len(sys.argv) > 2 else "viceroy"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # head and body in one segment (no Nagle/delayed-ACK stalls)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _sig(self) -> str:
        token = self.headers.get("Grip-Sig")
        if token is None:
            return "missing"
        return "valid" if gripcontrol.validate_sig(token, KEY, ISS) else "invalid"

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        headers = {
            "X-Grip-Sig": self._sig(),
            "X-Seen-Path": self.path,
            "X-Seen-Host": self.headers.get("Host", ""),
            **headers,
            "Content-Length": str(len(body)),
        }
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        route = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        channel = gripcontrol.create_grip_channel_header([gripcontrol.Channel("test")])
        if route == "stream":
            self._reply(
                200,
                {"Content-Type": "text/plain", "Grip-Hold": "stream", "Grip-Channel": channel},
                b"stream open\n",
            )
        elif route == "events":
            self._reply(
                200,
                {
                    "Content-Type": "text/event-stream",
                    "Grip-Hold": "stream",
                    "Grip-Channel": channel,
                    "Grip-Keep-Alive": ":\\n\\n; format=cstring; timeout=20",
                },
                b"event: open\ndata: {}\n\n",
            )
        elif route == "poll":
            self._reply(
                200,
                {
                    "Content-Type": "text/plain",
                    "Grip-Hold": "response",
                    "Grip-Channel": channel,
                    "Grip-Timeout": "5",
                },
                b"timeout\n",
            )
        elif route == "ws" and self.headers.get("Content-Type") == "application/websocket-events":
            out = []
            for event in gripcontrol.decode_websocket_events(body):
                if event.type == "OPEN":
                    out.append(gripcontrol.WebSocketEvent("OPEN"))
                    control = gripcontrol.websocket_control_message(
                        "subscribe", {"channel": "test"}
                    )
                    out.append(gripcontrol.WebSocketEvent("TEXT", "c:" + control))
                elif event.type == "TEXT":
                    text = (
                        event.content.decode()
                        if isinstance(event.content, bytes)
                        else event.content
                    )
                    if text == "close please":
                        out.append(gripcontrol.WebSocketEvent("CLOSE", b"\x0f\xa0"))
                    else:
                        out.append(gripcontrol.WebSocketEvent("TEXT", "echo: " + text))
                elif event.type == "CLOSE":
                    out.append(gripcontrol.WebSocketEvent("CLOSE", event.content))
            self._reply(
                200,
                {
                    "Content-Type": "application/websocket-events",
                    "Sec-WebSocket-Extensions": 'grip; message-prefix=""',
                },
                gripcontrol.encode_websocket_events(out),
            )
        else:
            info = {
                "path": self.path,
                "host": self.headers.get("Host"),
                "grip_sig": self._sig(),
                "method": self.command,
                "body": body.decode("utf-8", "replace"),
                "headers": [[k, v] for k, v in self.headers.items()],
            }
            self._reply(200, {"Content-Type": "application/json"}, json.dumps(info).encode())

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
