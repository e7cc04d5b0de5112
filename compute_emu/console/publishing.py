"""The console's publish form: the item ``compute-emu publish`` builds, sent where it sends it.

The item comes from :func:`compute_emu.publish.build_item` (the same options and checks as
the command line) and is POSTed to compute-emu's publish port, which passes it on to Pushpin
(and logs it), through the server's one upstream client.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import UserError
from ..publish import FORMATS, build_item, describe
from ..upstream.client import Origin, UpstreamClient, UpstreamError, UpstreamRequest
from .errors import ConsoleError

TIMEOUT = 10.0
MAX_ANSWER = 4096  # bytes of Pushpin's answer kept


def item_of(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The publish item for the form's ``{"channel", "format", "message", "event"?,
    "action"?, "id"?, "code"?}``, and its one-line description."""
    fmt = body.get("format", "http-stream")
    if fmt not in FORMATS:
        raise ConsoleError(400, f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    texts = {}
    for name in ("channel", "message", "event", "action", "id"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise ConsoleError(400, f"{name} must be a string")
        texts[name] = value or None
    code = body.get("code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise ConsoleError(400, "code must be a number")
    message = texts["message"]
    if message is None and texts["action"] is None:
        message = ""  # an empty message is a message (the form's empty box)
    try:
        item = build_item(
            texts["channel"] or "",
            message,
            fmt=fmt,
            event=texts["event"],
            id=texts["id"],
            action=texts["action"],
            code=code,
        )
    except UserError as exc:
        raise ConsoleError(400, str(exc)) from None
    return item, describe(item, [fmt], message)


async def send_item(client: UpstreamClient, port: int, item: dict[str, Any]) -> dict[str, Any]:
    """POST ``{"items": [item]}`` to the publish port on 127.0.0.1:``port``."""
    body = json.dumps({"items": [item]}, ensure_ascii=False).encode("utf-8")
    headers = [
        ("Host", f"127.0.0.1:{port}".encode()),
        ("Content-Type", b"application/json"),
        ("Content-Length", str(len(body)).encode()),
    ]
    request = UpstreamRequest("POST", "/publish/", headers, body, head_timeout=TIMEOUT)
    try:
        response = await client.request(Origin("127.0.0.1", port, connect_timeout=TIMEOUT), request)
        try:
            answer = b""
            while len(answer) < MAX_ANSWER and (chunk := await response.receive(TIMEOUT)):
                answer += chunk
        finally:
            await response.aclose()
    except UpstreamError as exc:
        raise ConsoleError(502, f"the publish port 127.0.0.1:{port} failed: {exc}") from None
    text = answer.decode("utf-8", "replace").strip()
    if response.status != 200:
        raise ConsoleError(502, f"Pushpin answered {response.status}: {text or '(no body)'}")
    return {"published": text or "Published", "item": item}
