"""A plain WebSocket backend (no GRIP) for `handoff_websocket` tests.

`python -m tests.support.ws_backend` listens on 127.0.0.1:0 and prints `PORT <n>`. On connect
it sends one JSON text message with the request path and Host; then it echoes every message
back prefixed with "backend: ".
"""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import ServerConnection, serve


async def handler(ws: ServerConnection) -> None:
    request = ws.request
    assert request is not None
    await ws.send(json.dumps({"path": request.path, "host": request.headers.get("Host")}))
    async for message in ws:
        await ws.send(f"backend: {message}")


async def main() -> None:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
