"""A small, fast GRIP origin for the Fanout rows (asyncio + h11, no signature check).

Routes, by path; the channel is the ``ch`` query parameter (default ``bench``), so the
subscribers through compute-emu and those straight to Pushpin never share a channel:
  /info    a short plain answer (not held)
  /stream  ``Grip-Hold: stream`` on the channel, first body ``stream open\\n``
  /ws      WebSocket-over-HTTP: OPEN is accepted and subscribed to the channel; other
           events get an empty answer (CLOSE is echoed)
Listens on 127.0.0.1:0 and prints ``PORT <n>``.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlsplit

import h11

WS_EVENTS = "application/websocket-events"


def ws_events(body: bytes) -> list[tuple[str, bytes]]:
    """The (type, content) events of a WebSocket-over-HTTP body."""
    events = []
    while body:
        line, _, body = body.partition(b"\r\n")
        kind, _, size = line.partition(b" ")
        content = b""
        if size:
            length = int(size, 16)
            content, body = body[:length], body[length + 2 :]
        events.append((kind.decode(), content))
    return events


def ws_event(kind: str, content: bytes | None = None) -> bytes:
    """One WebSocket-over-HTTP event."""
    if content is None:
        return kind.encode() + b"\r\n"
    return b"%s %x\r\n%s\r\n" % (kind.encode(), len(content), content)


Headers = list[tuple[str, str]]


def answer(method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[Headers, bytes]:
    """(headers, body) of the origin's answer to one request."""
    url = urlsplit(target)
    channel = parse_qs(url.query).get("ch", ["bench"])[0]
    route = url.path.rstrip("/").rsplit("/", 1)[-1]
    if route == "stream":
        hold = [("Grip-Hold", "stream"), ("Grip-Channel", channel)]
        return [("Content-Type", "text/plain"), *hold], b"stream open\n"
    if route == "ws" and headers.get("content-type") == WS_EVENTS:
        out = b""
        for kind, content in ws_events(body):
            if kind == "OPEN":
                control = json.dumps({"type": "subscribe", "channel": channel}).encode()
                out += ws_event("OPEN") + ws_event("TEXT", b"c:" + control)
            elif kind == "CLOSE":
                out += ws_event("CLOSE", content)
        grip = ("Sec-WebSocket-Extensions", 'grip; message-prefix=""')
        return [("Content-Type", WS_EVENTS), grip], out
    return [("Content-Type", "text/plain")], b"info " + method.encode() + b"\n"


class Origin(asyncio.Protocol):
    """One connection: h11, keep-alive, one answer per request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.conn = h11.Connection(h11.SERVER)
        self.request: h11.Request | None = None
        self.body = b""

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self.pump()

    def eof_received(self) -> None:
        self.conn.receive_data(b"")
        self.pump()

    def pump(self) -> None:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                self.transport.close()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.ConnectionClosed):
                self.transport.close()
                return
            if isinstance(event, h11.Request):
                self.request, self.body = event, b""
            elif isinstance(event, h11.Data):
                self.body += event.data
            elif isinstance(event, h11.EndOfMessage) and self.request is not None:
                self.respond(self.request)

    def respond(self, request: h11.Request) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        extra, body = answer(request.method.decode(), request.target.decode(), headers, self.body)
        head = h11.Response(status_code=200, headers=[*extra, ("Content-Length", str(len(body)))])
        out = self.conn.send(head) + self.conn.send(h11.Data(data=body))
        self.transport.write(out + self.conn.send(h11.EndOfMessage()))
        if self.conn.our_state is h11.MUST_CLOSE:
            self.transport.close()
        else:
            self.conn.start_next_cycle()


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Origin, "127.0.0.1", 0, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
