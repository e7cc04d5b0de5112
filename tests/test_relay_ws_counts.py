"""relay.splice with WebSocket frame counters (the handoff's close line): each read of each
direction is counted, pending bytes included, at the transport level and through the
stream-level fallback; the bytes stay exact."""

from __future__ import annotations

import anyio
import pytest
from wsproto.frame_protocol import CloseReason, FrameProtocol

from compute_emu.rules.ws_frames import FrameCounter
from compute_emu.upstream.relay import splice
from tests.support.relay_rig import MODES, Loopback, make_rig, read_all


def messages(client: bool, count: int, size: int) -> bytes:
    proto = FrameProtocol(client=client, extensions=[])
    body = b"".join(proto.send_data(b"m" * size, fin=True) for _ in range(count))
    return body + proto.close(CloseReason.NORMAL_CLOSURE)


@MODES
@pytest.mark.anyio
async def test_splice_counts_the_messages_each_way(net: Loopback, mode: str) -> None:
    rig = await make_rig(net, mode)
    up, down = messages(True, 300, 1000), messages(False, 50, 70_000)
    pending = FrameProtocol(client=True, extensions=[]).send_data("first", fin=True)
    counters = (FrameCounter(), FrameCounter())
    got: dict[str, bytes] = {}
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def browser() -> None:
                await rig.browser.send(up)
                await rig.browser.send_eof()
                got["browser"] = await read_all(rig.browser)

            async def pushpin() -> None:
                await rig.pushpin.send(down)
                await rig.pushpin.send_eof()
                got["pushpin"] = await read_all(rig.pushpin)

            tg.start_soon(browser)
            tg.start_soon(pushpin)
            await splice(rig.client, rig.upstream, pending, b"", counters=counters)
    assert got["pushpin"] == pending + up and got["browser"] == down
    assert (counters[0].messages, counters[0].controls) == (301, 1)
    assert (counters[1].messages, counters[1].controls) == (50, 1)
    assert not (counters[0].broken or counters[1].broken)
    await rig.aclose()
