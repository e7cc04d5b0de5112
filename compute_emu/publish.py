"""`compute-emu publish`: send one message to the local Pushpin's publish API.

The publish body is built by a pure function (``build_item``); the POST uses only the
standard library and never goes through an HTTP proxy (it is meant for a local endpoint).
Pushpin's answers are turned into one line each: its 400 texts are quoted as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .errors import UserError

DEFAULT_URL = "http://127.0.0.1:5561"
FORMATS = ("http-stream", "sse", "ws-message", "http-response")
ACTIONS = ("close", "hint")
# Without --format, a message goes to every subscriber of the channel, whatever its transport
# (as Pushpin's own pushpin-publish does); an action to those it applies to.
DEFAULT_FORMATS: dict[str | None, tuple[str, ...]] = {
    None: ("http-stream", "ws-message", "http-response"),
    "close": ("http-stream", "ws-message"),
    "hint": ("http-stream", "http-response"),
}
TIMEOUT = 10.0

START_PUSHPIN = (
    "start one with `compute-emu serve` in a project whose fastly.toml has "
    "[local_server.pushpin] enable = true (or pass --experimental-enable-pushpin), "
    "or point --url at Pushpin's publish port"
)


class OptionError(UserError):
    """Options that don't fit together (the CLI shows these as usage errors)."""


def sse_event(message: str, event: str | None = None) -> str:
    """``message`` as one Server-Sent Event: ``event:`` line, one ``data:`` per line, blank line."""
    lines = [f"event: {event}"] if event is not None else []
    lines += [f"data: {line}" for line in re.split(r"\r\n|\r|\n", message)]
    return "\n".join(lines) + "\n\n"


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` -> ``("Name", "value")``."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or re.search(r"[\s\x00-\x1f\x7f]", name):
        raise OptionError(f"-H/--header {text!r}: expected 'Name: value'")
    if re.search(r"[\r\n\x00]", value):
        raise OptionError(f"-H/--header {text!r}: the value must be one line")
    return name, value.strip()


def chosen_formats(fmt: str | Sequence[str], action: str | None) -> tuple[str, ...]:
    """The formats to publish in: those given (once each, in order), else the defaults."""
    given = (fmt,) if isinstance(fmt, str) else tuple(dict.fromkeys(fmt))
    for name in given:
        if name not in FORMATS:
            raise OptionError(f"unknown format {name!r} (one of {', '.join(FORMATS)})")
    if "sse" in given and "http-stream" in given:
        raise OptionError(
            "--format sse and --format http-stream both go to HTTP streams (sse is http-stream "
            "content in SSE framing): give one of them"
        )
    return given or DEFAULT_FORMATS.get(action, DEFAULT_FORMATS[None])


def _check_options(
    formats: tuple[str, ...],
    message: str | None,
    action: str | None,
    newline: bool,
    event: str | None,
    code: int | None,
    headers: tuple[str, ...],
) -> None:
    if action is not None and action not in ACTIONS:
        raise OptionError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if message is None and action is None:
        raise OptionError("MESSAGE is required (unless --action close|hint is given)")
    if message is not None and action is not None:
        raise OptionError(f"MESSAGE cannot be combined with --action {action}")
    if event is not None and "sse" not in formats:
        raise OptionError("--event applies only to --format sse")
    if event is not None and re.search(r"[\r\n]", event):
        raise OptionError("--event must be one line")
    if not newline and "http-stream" not in formats:
        raise OptionError("--no-newline applies only to --format http-stream")
    if headers and ("http-response" not in formats or action is not None):
        raise OptionError("-H/--header applies only to --format http-response with a MESSAGE")
    if code is None:
        return
    if "http-response" in formats and action is None:
        if not 100 <= code <= 599:
            raise OptionError(f"--code {code}: an HTTP status is 100-599")
    elif "ws-message" in formats and action == "close":
        if not 1000 <= code <= 4999:
            raise OptionError(f"--code {code}: a WebSocket close code is 1000-4999")
    else:
        raise OptionError(
            "--code applies only to --format http-response (the status) or to "
            "--format ws-message --action close (the close code)"
        )


def _payload(
    fmt: str,
    text: str,
    *,
    newline: bool,
    event: str | None,
    action: str | None,
    code: int | None,
    headers: tuple[str, ...],
) -> dict[str, Any]:
    """One format's part of the item."""
    if action is not None:
        payload: dict[str, Any] = {"action": action}
        if code is not None and fmt == "ws-message":
            payload["code"] = code
        return payload
    if fmt == "http-stream":
        return {"content": text + "\n" if newline else text}
    if fmt == "sse":
        return {"content": sse_event(text, event)}
    if fmt == "ws-message":
        return {"content": text}
    payload = {"code": 200 if code is None else code}
    if headers:
        payload["headers"] = [list(parse_header(header)) for header in headers]
    payload["body"] = text
    return payload


def build_item(
    channel: str,
    message: str | None = None,
    *,
    fmt: str | Sequence[str] = (),
    newline: bool = True,
    event: str | None = None,
    id: str | None = None,
    prev_id: str | None = None,
    action: str | None = None,
    code: int | None = None,
    headers: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One item of Pushpin's publish body (``{"items": [item]}``) for these options; ``fmt``
    is one format or several (none: :data:`DEFAULT_FORMATS`)."""
    if not channel:
        raise OptionError("CHANNEL must not be empty")
    formats = chosen_formats(fmt, action)
    _check_options(formats, message, action, newline, event, code, headers)
    item: dict[str, Any] = {"channel": channel}
    if id is not None:
        item["id"] = id
    if prev_id is not None:
        item["prev-id"] = prev_id
    text = "" if message is None else message
    item["formats"] = {
        ("http-stream" if name == "sse" else name): _payload(
            name, text, newline=newline, event=event, action=action, code=code, headers=headers
        )
        for name in formats
    }
    return item


def describe(item: dict[str, Any], formats: Sequence[str], message: str | None) -> str:
    """``channel "test": http-stream, ws-message, http-response, 5 bytes`` and the like
    (``formats`` as chosen; the size is ``message``'s)."""
    payloads = item["formats"]
    first = next(iter(payloads.values()))
    parts = [f"channel {json.dumps(item['channel'])}: {', '.join(formats)}"]
    if "action" in first:
        parts[0] += f" {first['action']}"
        if "code" in payloads.get("ws-message", {}):
            parts.append(f"code {payloads['ws-message']['code']}")
    else:
        response = payloads.get("http-response")
        if response is not None:
            parts.append(f"status {response['code']}")
            if response.get("headers"):
                parts.append(f"{len(response['headers'])} header(s)")
        parts.append(f"{len((message or '').encode())} bytes")
    for field in ("id", "prev-id"):
        if field in item:
            parts.append(f"{field} {json.dumps(item[field])}")
    return ", ".join(parts)


def publish_target(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host, port, path) to POST to for ``url`` (``<url>/publish/``)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise UserError(f"--url {url}: expected an address like {DEFAULT_URL}")
    path = parts.path.rstrip("/")
    if not path.endswith("/publish"):
        path += "/publish"
    return parts.scheme, parts.hostname, port, path + "/"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def publish(url: str, item: dict[str, Any], timeout: float = TIMEOUT) -> str:
    """POST ``{"items": [item]}``; Pushpin's answer (``Published``) or a UserError."""
    import http.client  # (with the email package) here, not in every serve (the console)

    scheme, host, port, path = publish_target(url)
    try:
        body = json.dumps({"items": [item]}, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise UserError("the message is not valid UTF-8 text") from None
    connection_class = (
        http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(host, port, timeout=timeout)
    headers = {"Content-Type": "application/json", "Accept": "text/plain"}
    try:
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        status, reason = response.status, response.reason
        text = response.read().decode("utf-8", "replace")
    except ConnectionRefusedError:
        raise UserError(
            f"no Pushpin is listening at {url} (connection refused); {START_PUSHPIN}"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise UserError(f"cannot publish to {url}: {exc or type(exc).__name__}") from None
    finally:
        connection.close()
    answer = _one_line(text)
    if status == 200:
        return answer or "Published"
    if status == 400:
        hint = ""
        if "too large" in answer:
            hint = f" ({len(body)} bytes; Fanout, like compute-emu's Pushpin, takes up to 64 KB)"
        raise UserError(f"Pushpin rejected the message: {answer}{hint}")
    where = f"{scheme}://{host}{f':{port}' if port else ''}{path}"
    hint = "; is --url Pushpin's publish port (default 5561)?" if status in (404, 405) else ""
    raise UserError(f"{where} answered {status} {reason}: {answer or '(no body)'}{hint}")
