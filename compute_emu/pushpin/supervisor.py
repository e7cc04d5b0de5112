"""Pushpin as a well-behaved child: checked, started, watched, restarted, and always stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread

from ..errors import UserError
from ..log import RequestLog
from ..manifest import BackendConfig
from ..ports import port_in_use_message
from .config import (
    PROBE_ACCEPT_ROUTE,
    PROBE_CLIENT_ROUTE,
    PushpinSettings,
    PushpinVersion,
    check_rundir,
    parse_version,
    pushpin_conf,
    routes_file,
)
from .logs import relay_line
from .processes import (
    clear_state,
    kill_instance,
    pid_file_pids,
    reap_orphans,
    write_state,
)

INSTALL_HELP = (
    "install it (Debian/Ubuntu: sudo apt-get install pushpin; macOS: brew install pushpin; "
    "others: https://pushpin.org/docs/install/) or point --pushpin-path / "
    "[local_server.pushpin] pushpin_path at the binary"
)
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
MAX_BACKOFF = 30.0


def find_binary(path: str | None) -> str:
    """The Pushpin executable to run, or a UserError saying how to get one."""
    name = path or "pushpin"
    found = shutil.which(name)
    if found is None:
        where = f"{path} does not exist or is not executable" if path else "not found on PATH"
        raise UserError(f"Pushpin is needed for Fanout but {where}: {INSTALL_HELP}")
    return found


def read_version(binary: str) -> PushpinVersion:
    """Run ``pushpin --version``."""
    try:
        result = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {binary} --version: {exc}") from None
    return parse_version(result.stdout + result.stderr)


def check_port_free(what: str, port: int) -> None:
    """Fail with a message naming the port (and its owner) if it is taken on 127.0.0.1."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise UserError(port_in_use_message(what, "127.0.0.1", port)) from None


def _instance_dir(version: PushpinVersion) -> Path:
    """A private directory for one Pushpin instance, short enough for unix sockets."""
    for base in (tempfile.gettempdir(), "/tmp"):
        path = Path(tempfile.mkdtemp(prefix="ce-pp-", dir=base))
        try:
            check_rundir(str(path / "run"), version)
        except UserError:
            path.rmdir()
            if base == "/tmp":
                raise
            continue
        return path
    raise AssertionError("unreachable")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class Pushpin:
    """One Pushpin instance for one `compute-emu serve`."""

    def __init__(
        self,
        binary: str,
        version: PushpinVersion,
        settings: PushpinSettings,
        project_dir: Path,
        backends: Mapping[str, BackendConfig],
        log: RequestLog,
    ) -> None:
        self.binary = binary
        self.version = version
        self.settings = settings
        self.project_dir = project_dir
        self.log = log
        self.dir = _instance_dir(version)
        self.conf = self.dir / "pushpin.conf"
        self.routes = self.dir / "routes"
        self.rundir = self.dir / "run"
        _write_private(self.routes, routes_file(backends, settings.publish_port))
        _write_private(
            self.conf, pushpin_conf(settings, version, str(self.rundir), str(self.routes))
        )
        self.process: anyio.abc.Process | None = None
        self.recent: deque[str] = deque(maxlen=40)
        self._stopping = False

    @classmethod
    def prepare(
        cls,
        path: str | None,
        settings: PushpinSettings,
        project_dir: Path,
        backends: Mapping[str, BackendConfig],
        log: RequestLog,
    ) -> Pushpin:
        """Everything that can fail before anything starts: binary, orphans, ports."""
        binary = find_binary(path)
        version = read_version(binary)
        if killed := reap_orphans(project_dir):
            log.warning(f"stopped Pushpin processes left by an earlier run: pids {killed}")
        if settings.proxy_port == settings.publish_port:
            raise UserError(f"the Pushpin proxy and publish ports are both {settings.proxy_port}")
        check_port_free("Pushpin proxy", settings.proxy_port)
        check_port_free("Pushpin publish", settings.publish_port)
        return cls(binary, version, settings, project_dir, backends, log)

    # -- running ----------------------------------------------------------------------
    async def _spawn(self) -> anyio.abc.Process:
        process = await anyio.open_process(
            [self.binary, f"--config={self.conf}", "--merge-output"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=str(self.dir),
            start_new_session=True,  # Ctrl-C in the terminal is ours to handle, not Pushpin's
        )
        self.process = process
        return process

    async def _relay_logs(self, process: anyio.abc.Process) -> None:
        assert process.stdout is not None
        pending = b""
        async for data in process.stdout:
            pending += data
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace").rstrip()
                if line:
                    self.recent.append(line)
                    relay_line(self.log, line)

    async def _wait_ready(self, process: anyio.abc.Process) -> None:
        """Both ports answer and the publish port is really Pushpin's API."""
        with anyio.move_on_after(READY_TIMEOUT) as scope:
            for port in (self.settings.proxy_port, self.settings.publish_port):
                while True:
                    if process.returncode is not None:
                        raise UserError(self._died_message("while starting"))
                    try:
                        stream = await anyio.connect_tcp("127.0.0.1", port)
                    except OSError:
                        await anyio.sleep(0.01)
                        continue
                    if port == self.settings.publish_port:
                        await stream.send(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                        answer = b""
                        with contextlib.suppress(anyio.EndOfStream, OSError):
                            while len(answer) < 4096:
                                answer += await stream.receive()
                        if b"Pushpin API" not in answer:
                            await stream.aclose()
                            raise UserError(
                                f"something other than Pushpin answers on 127.0.0.1:{port}"
                            )
                    await stream.aclose()
                    break
            await self._probe(process)
        if scope.cancelled_caught:
            raise UserError(self._died_message(f"was not ready within {READY_TIMEOUT:.0f}s"))
        pids = [process.pid, *pid_file_pids(self.rundir)]
        write_state(self.project_dir, str(self.dir), pids)

    async def _probe(self, process: anyio.abc.Process) -> None:
        """Round-trip requests through Pushpin until its internal links are up.

        Open ports alone do not mean that: a request sent too early can hang (seen with
        WebSockets on 1.36) or get ``500 Accept service unavailable``. So one probe goes
        through the outgoing client to Pushpin's publish API, one opens a GRIP stream on
        Pushpin's built-in test handler.
        """
        for route, path, expect in (
            (PROBE_CLIENT_ROUTE, "/", b"Pushpin API"),
            (PROBE_ACCEPT_ROUTE, "/stream", b"[stream opened]"),
        ):
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nPushpin-Route: {route}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            while not await self._probe_once(request, expect):
                if process.returncode is not None:
                    raise UserError(self._died_message("while starting"))
                await anyio.sleep(0.05)

    async def _probe_once(self, request: bytes, expect: bytes) -> bool:
        answer = b""
        with anyio.move_on_after(0.5), contextlib.suppress(OSError, anyio.EndOfStream):
            async with await anyio.connect_tcp("127.0.0.1", self.settings.proxy_port) as stream:
                await stream.send(request)
                while expect not in answer:
                    answer += await stream.receive()
        return expect in answer

    def _died_message(self, when: str) -> str:
        tail = "\n".join(f"  {line}" for line in list(self.recent)[-8:])
        return f"Pushpin ({self.binary} {self.version}) failed {when}; its last lines:\n{tail}"

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start Pushpin, signal readiness, then keep it running (restarting with backoff)."""
        backoff = 0.5
        started = False
        while True:
            process = await self._spawn()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._relay_logs, process)
                try:
                    await self._wait_ready(process)
                except UserError:
                    if not started:
                        await self._cleanup_children()
                        raise
                    self.log.error(self._died_message("to restart"))
                else:
                    if not started:
                        started = True
                        task_status.started()
                    else:
                        self.log.info("pushpin restarted")
                    up_since = anyio.current_time()
                await process.wait()
                # orphaned children could keep the log pipe open: stop reading it
                tg.cancel_scope.cancel()
            if self._stopping:
                return
            self.log.error(
                f"Pushpin exited unexpectedly (status {process.returncode}); "
                f"restarting in {backoff:.1f}s; the app keeps serving"
            )
            await self._cleanup_children()
            await anyio.sleep(backoff)
            if started and anyio.current_time() - up_since > 60:
                backoff = 0.5
            else:
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _cleanup_children(self) -> None:
        pids = pid_file_pids(self.rundir)
        await anyio.to_thread.run_sync(kill_instance, pids, str(self.dir))

    async def stop(self) -> None:
        """One SIGTERM, a wait, SIGKILL if needed, then any child by its pid file; remove files."""
        self._stopping = True
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(STOP_TIMEOUT):
                await process.wait()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await self._cleanup_children()
        if process is not None:
            await process.aclose()
        shutil.rmtree(self.dir, ignore_errors=True)
        clear_state(self.project_dir)

    def update_routes(self, backends: Mapping[str, BackendConfig]) -> None:
        """Rewrite the routes file (Pushpin notices and reloads it by itself)."""
        tmp = self.dir / "routes.new"
        _write_private(tmp, routes_file(backends, self.settings.publish_port))
        tmp.replace(self.routes)
