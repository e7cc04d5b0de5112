"""The origin for the send() rows when nginx is not installed (asyncio, keep-alive).

``GET /big`` answers 1 GiB of zeros (Content-Length, written as the socket drains); any other
request gets the fixed 13-byte answer. Prints ``PORT <n>`` when ready.
"""

from __future__ import annotations

import asyncio

BODY = b"Hello, world!"
SMALL = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
BIG_SIZE = 1 << 30
CHUNK = b"\0" * (1 << 20)
BIG_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"


class Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.drained = asyncio.Event()
        self.drained.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def pause_writing(self) -> None:
        self.drained.clear()

    def resume_writing(self) -> None:
        self.drained.set()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = 0
            if b"content-length:" in head:
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith(b"get /big "):
                self.sending = asyncio.ensure_future(self.send_big())
            else:
                self.transport.write(SMALL)

    async def send_big(self) -> None:
        self.transport.write(BIG_HEAD % BIG_SIZE)
        left = BIG_SIZE
        while left and not self.transport.is_closing():
            await self.drained.wait()
            piece = CHUNK if left >= len(CHUNK) else CHUNK[:left]
            self.transport.write(piece)
            left -= len(piece)


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Protocol, "127.0.0.1", 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
