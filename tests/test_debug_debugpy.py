"""debugpy: `python -m debugpy --listen PORT -m compute_emu serve`, an IDE attaches and its
breakpoint in main() is hit (here the IDE is a minimal Debug Adapter Protocol client)."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from tests.support.ports import free_port
from tests.support.processes import python_module

try:
    import debugpy  # noqa: F401
except ImportError:  # pragma: no cover - the test extra installs it
    pytest.fail("debugpy is missing: pip install -e '.[dev]' (or pip install debugpy)")

APP = """\
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    answer = "stopped here"
    Response.from_body(answer).send_to_client()
"""
BREAK_LINE = 6


class Dap:
    """Requests in, responses and events out, over the adapter's socket."""

    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + 15
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.buffer = b""
        self.seq = 0
        self.seen: list[dict[str, Any]] = []

    def send(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        body = json.dumps(
            {"seq": self.seq, "type": "request", "command": command, "arguments": arguments}
        ).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        return self.seq

    def _read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = int(head.split(b":")[1])
        while len(self.buffer) < length:
            self.buffer += self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(body)  # type: ignore[no-any-return]

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        assert data, "the debug adapter closed the connection"
        return data

    def wait(self, kind: str, name: str) -> dict[str, Any]:
        """The next event ``name`` (kind "event") or response to ``name`` (kind "response")."""
        for message in self.seen:
            if message["type"] == kind and message.get("event", message.get("command")) == name:
                self.seen.remove(message)
                return message
        while True:
            message = self._read()
            if message["type"] == kind and message.get("event", message.get("command")) == name:
                return message
            self.seen.append(message)


def test_an_attached_debugger_stops_at_a_breakpoint_in_main(make_project, spawn):
    project = make_project(APP)
    main_py = str((project / "src" / "main.py").resolve())
    port = free_port()
    child = spawn(
        python_module(
            "debugpy",
            "--listen",
            f"127.0.0.1:{port}",
            "-m",
            "compute_emu",
            "serve",
            "-C",
            str(project),
            "--addr",
            "127.0.0.1:0",
        )
    )
    url = child.wait_for(r"Listening on (http://\S+)", timeout=30).group(1)
    dap = Dap(port)
    try:
        dap.send("initialize", clientID="test", adapterID="python", pathFormat="path")
        dap.wait("response", "initialize")
        dap.send("attach", justMyCode=False)
        dap.wait("event", "initialized")
        dap.send("setBreakpoints", source={"path": main_py}, breakpoints=[{"line": BREAK_LINE}])
        verified = dap.wait("response", "setBreakpoints")["body"]["breakpoints"]
        assert verified and verified[0]["verified"], verified
        dap.send("configurationDone")
        dap.wait("response", "attach")

        answers: list[str] = []
        request = threading.Thread(
            target=lambda: answers.append(httpx.get(url, timeout=30).text), daemon=True
        )
        request.start()
        stopped = dap.wait("event", "stopped")["body"]
        assert stopped["reason"] == "breakpoint"
        dap.send("stackTrace", threadId=stopped["threadId"], levels=1)
        frame = dap.wait("response", "stackTrace")["body"]["stackFrames"][0]
        assert (frame["source"]["path"], frame["line"], frame["name"]) == (
            main_py,
            BREAK_LINE,
            "main",
        )
        assert not answers  # held at the breakpoint
        dap.send("continue", threadId=stopped["threadId"])
        request.join(20)
        assert answers == ["stopped here"]
        dap.send("disconnect", terminateDebuggee=False)
    finally:
        dap.sock.close()
