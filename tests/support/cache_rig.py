"""The cache tests' rig: an origin that counts its hits, and compute-emu in this process.

The origin answers every path; the query says how (``cc``: Cache-Control, ``sc``:
Surrogate-Control, ``sk``: Surrogate-Key, ``vary``, ``cookie=1``, ``status``, ``expires``,
``age``, ``etag`` (a 304 to a matching If-None-Match), ``slow``: seconds before the head,
``abort=1``: a body cut off, ``gate=NAME``: send ``first`` then wait for ``release(NAME)``
before the rest). Its body names the path, the hit count and the request's
``Accept-Language``. Hits are counted per path (query excluded) unless ``id`` is given; the
most requests of a path it answered at once, in ``most_in_flight``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.from_thread
import httpx

from compute_emu.log import RequestLog
from compute_emu.serve import Server, ServeSettings
from tests.support.processes import Child
from tests.support.sdk_hosts import serve_argv, serve_env
from tests.support.threaded_server import serve_in_thread


class Origin:
    """A counting HTTP/1.1 origin on 127.0.0.1 (threads; stopped by :meth:`close`)."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()  # the most requests answered at once
        self.gates: dict[str, threading.Event] = {}
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self.do_GET()

            def do_GET(self) -> None:
                origin._answer_counted(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = serve_in_thread(self.server)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gate(self, name: str) -> threading.Event:
        with self._lock:
            return self.gates.setdefault(name, threading.Event())

    def release(self, name: str) -> None:
        self.gate(name).set()

    def _answer_counted(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        with self._lock:
            self.in_flight[path] += 1
            self.most_in_flight[path] = max(self.most_in_flight[path], self.in_flight[path])
        try:
            self._answer(handler)
        finally:
            with self._lock:
                self.in_flight[path] -= 1

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        counted = query.get("id", parts.path)
        with self._lock:
            self.hits[counted] += 1
            count = self.hits[counted]
            self.requests.append({k.lower(): v for k, v in handler.headers.items()})
        if "slow" in query:
            time.sleep(float(query["slow"]))
        headers: list[tuple[str, str]] = [("Date", formatdate(usegmt=True))]
        for param, name in (
            ("cc", "Cache-Control"),
            ("sc", "Surrogate-Control"),
            ("sk", "Surrogate-Key"),
            ("vary", "Vary"),
            ("age", "Age"),
        ):
            if param in query:
                headers.append((name, query[param]))
        if "expires" in query:
            headers.append(
                ("Expires", formatdate(time.time() + float(query["expires"]), usegmt=True))
            )
        if query.get("cookie"):
            headers.append(("Set-Cookie", "session=1"))
        if "etag" in query:
            headers.append(("ETag", f'"{query["etag"]}"'))
            if handler.headers.get("if-none-match") == f'"{query["etag"]}"':
                handler.send_response(304)
                for name, value in headers:
                    handler.send_header(name, value)
                handler.end_headers()
                return
        lang = handler.headers.get("accept-language", "")
        body = f"{parts.path} #{count} lang={lang}".encode()
        status = int(query.get("status", "200"))
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        if "abort" in query:  # a body cut off in the middle
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            handler.wfile.write(b"first;")
            handler.wfile.flush()
            handler.close_connection = True
            return
        if "gate" in query:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            first = b"first;"
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(first), first))
            handler.wfile.flush()
            self.gate(query["gate"]).wait(10)
            handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            handler.wfile.flush()
            return
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def close(self) -> None:
        for gate in self.gates.values():
            gate.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class Lines:
    """A log stream that keeps its lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.extend(line for line in text.splitlines() if line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def find(self, *parts: str) -> list[str]:
        return [line for line in list(self.lines) if all(p in line for p in parts)]

    def wait(self, *parts: str, timeout: float = 10.0) -> list[str]:
        """The lines with all of ``parts``, once there is one (a line may follow the answer)."""
        deadline = time.monotonic() + timeout
        while not (found := self.find(*parts)) and time.monotonic() < deadline:
            time.sleep(0.02)
        return found


@dataclass
class Running:
    """compute-emu serving a project in this process."""

    url: str
    log: Lines
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.client.get(path, headers={k.replace("_", "-"): v for k, v in headers.items()})

    def admin(self, path: str) -> httpx.Response:
        return self.client.post(f"/.compute-emu/{path}")

    def advance(self, seconds: float) -> None:
        """Move the cache clock on."""
        assert self.admin(f"cache-clock?advance={seconds}").status_code == 200

    def tags(self, path: str) -> list[str]:
        """The cache tags of the log lines of requests for ``path`` (in order)."""
        found = []
        for line in self.log.find(f" {path} "):
            for tag in ("HIT", "MISS", "STALE", "PASS"):
                if f" {tag}" in line:
                    found.append(tag)
        return found


def serve_in_process(project: Path, **settings: Any) -> Iterator[Running]:
    """Run compute-emu on a free port in a thread of this process until the block ends."""
    log = Lines()
    server = Server(
        ServeSettings(project_dir=project, port=0, **settings),
        RequestLog(log, log, colour=False),  # type: ignore[arg-type]
    )
    ready: list[tuple[str, int]] = []
    with anyio.from_thread.start_blocking_portal() as portal:
        future = portal.start_task_soon(
            lambda: server.run(ready.append, handle_signals=False)  # type: ignore[arg-type]
        )
        deadline = time.monotonic() + 10
        while not ready:
            assert time.monotonic() < deadline, "compute-emu did not start"
            assert not future.done(), future.exception()
            time.sleep(0.01)
        running = Running("http://{}:{}".format(*ready[0]), log)
        try:
            yield running
        finally:
            running.client.close()
            future.cancel()


class ChildLines(Lines):
    """The log of a ``compute-emu serve`` child: its output lines, as they come."""

    def __init__(self, child: Child) -> None:
        super().__init__()
        self._child = child

    def find(self, *parts: str) -> list[str]:
        lines = [*self._child.stdout_lines, *self._child.stderr_lines]
        return [line for line in lines if all(p in line for p in parts)]


def serve_for(sdk_host: str, project: Path, **settings: Any) -> Iterator[Running]:
    """compute-emu serving ``project`` for the SDK host of the test (tests/support/sdk_hosts):
    in this process natively, as a ``--sdk-host wit`` child under the 3.12+ env otherwise
    (only the ``no_cache`` setting is a flag there)."""
    if sdk_host == "native":
        yield from serve_in_process(project, **settings)
        return
    flags = ["--no-cache"] if settings.pop("no_cache", False) else []
    assert not settings, f"no flag for {settings}"
    argv = serve_argv(sdk_host, "-C", str(project), "--addr", "127.0.0.1:0", *flags)
    child = Child(argv, env=serve_env(sdk_host))
    try:
        url = child.wait_for(r"Listening on (http://\S+)").group(1)
        running = Running(url, ChildLines(child))
        try:
            yield running
        finally:
            running.client.close()
    finally:
        child.stop()
        assert not child.kill_leftovers()
