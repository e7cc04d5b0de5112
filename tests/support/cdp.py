"""A minimal Chrome DevTools Protocol client for browser tests (plain websockets, no Selenium)."""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

# Quiet, self-contained headless Chromium: no first-run UI, no background traffic to Google.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: Chromium prints this on stderr once DevTools accepts connections.
DEVTOOLS_LISTENING = r"DevTools listening on ws://127\.0\.0\.1:(\d+)/"


class CDPError(Exception):
    """A DevTools command failed, or evaluated JavaScript threw."""


def find_chromium() -> str | None:
    """Path of a Chromium binary on PATH, if any."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def chromium_command(binary: str, user_data_dir: Path) -> list[str]:
    """argv for a headless Chromium with DevTools on a free port, showing about:blank."""
    return [
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={user_data_dir}",
        "--remote-debugging-port=0",
        "about:blank",
    ]


def page_websocket_url(port: int, timeout: float = 10) -> str:
    """The webSocketDebuggerUrl of the first page target (GET /json/list)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False) as client:
        while True:
            targets = client.get(f"http://127.0.0.1:{port}/json/list").json()
            for target in targets:
                if target.get("type") == "page":
                    return str(target["webSocketDebuggerUrl"])
            if time.monotonic() > deadline:
                raise AssertionError(f"no page target among {targets}")
            time.sleep(0.1)


class CDPSession:
    """Commands to one target; events are read and ignored."""

    def __init__(self, websocket_url: str) -> None:
        self._stack = contextlib.ExitStack()
        self._ws = self._stack.enter_context(
            connect(websocket_url, max_size=None, proxy=None, compression=None)
        )
        self._ids = itertools.count(1)

    def call(self, method: str, timeout: float = 10, **params: Any) -> dict[str, Any]:
        """Send a command and return its result."""
        command_id = next(self._ids)
        self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CDPError(f"{method}: no answer within {timeout}s")
            message = json.loads(self._ws.recv(timeout=remaining))
            if message.get("id") != command_id:
                continue  # an event
            if "error" in message:
                raise CDPError(f"{method}: {message['error']}")
            return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"{expression!r} threw: {text}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 10) -> Any:
        """Evaluate ``expression`` until it is truthy; its value. Fails with the last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression!r} still {value!r} after {timeout}s")
            time.sleep(0.1)

    def navigate(self, url: str) -> None:
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise CDPError(f"navigating to {url}: {result['errorText']}")

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> CDPSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
