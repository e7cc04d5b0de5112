"""The floor for the hello rows: a bare anyio + h11 server on compute-emu's own stack.

One task per connection, keep-alive, a fixed 13-byte answer; no app, no threads. Listens on
127.0.0.1:0 and prints ``PORT <n>``.
"""

from __future__ import annotations

import anyio
import h11
from anyio.abc import SocketStream

BODY = b"Hello, world!"
HEADERS = [("content-type", "text/plain"), ("content-length", str(len(BODY)))]


async def handle(stream: SocketStream) -> None:
    """Answer every request on the connection until the client closes it."""
    conn = h11.Connection(h11.SERVER)
    async with stream:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                pass
            elif isinstance(event, h11.EndOfMessage):
                out = conn.send(h11.Response(status_code=200, headers=HEADERS))
                out += conn.send(h11.Data(data=BODY)) + conn.send(h11.EndOfMessage())
                await stream.send(out)
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
            elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                return


async def main() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    print(f"PORT {port}", flush=True)
    await listener.serve(handle)


if __name__ == "__main__":
    anyio.run(main)
