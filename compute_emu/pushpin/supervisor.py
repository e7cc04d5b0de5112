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
    live_owners,
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


def _check_ports(settings: PushpinSettings) -> None:
    check_port_free("Pushpin proxy", settings.proxy_port)
    check_port_free("Pushpin publish", settings.publish_port)


def _report_reaped(log: RequestLog, pids: list[int]) -> None:
    log.warning(
        f"stopped Pushpin processes left by an earlier run (its compute-emu is gone): pids {pids}"
    )


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
        self._output_done = anyio.Event()
        self._pids: list[int] = []  # the runner and its children, as of the last start
        write_state(project_dir, str(self.dir), [])  # known from now on, should we be killed

    @classmethod
    def prepare(
        cls,
        path: str | None,
        settings: PushpinSettings,
        project_dir: Path,
        backends: Mapping[str, BackendConfig],
        log: RequestLog,
    ) -> Pushpin:
        """Everything that can fail before anything starts: binary, ports, orphans.

        Orphans are Pushpin processes whose compute-emu is dead (see ``processes``); those of
        a live compute-emu serving the same project are never touched. They are stopped after
        the port checks: at once if a port is taken (and the ports checked again), else as
        a cleanup once the ports are known to be free.
        """
        binary = find_binary(path)
        version = read_version(binary)
        if settings.proxy_port == settings.publish_port:
            raise UserError(f"the Pushpin proxy and publish ports are both {settings.proxy_port}")
        try:
            _check_ports(settings)
        except UserError as exc:
            if not (killed := reap_orphans(project_dir)):
                if owners := live_owners(project_dir):
                    raise UserError(
                        f"{exc} (another compute-emu serve of this project runs, pid "
                        f"{', '.join(map(str, owners))}: give this one other Pushpin ports "
                        "with --pushpin-proxy-port and --pushpin-publish-port)"
                    ) from None
                raise
            _report_reaped(log, killed)
            _check_ports(settings)
        else:
            if killed := reap_orphans(project_dir):
                _report_reaped(log, killed)
        return cls(binary, version, settings, project_dir, backends, log)

    # -- running ----------------------------------------------------------------------
    def _check_dir(self) -> None:
        if not self.conf.is_file():
            raise UserError(
                f"Pushpin's private directory {self.dir} was removed while compute-emu ran "
                "(by another program?); cannot run Pushpin without it: start compute-emu again"
            )

    async def _spawn(self) -> anyio.abc.Process:
        self._check_dir()
        try:
            process = await anyio.open_process(
                [self.binary, f"--config={self.conf}", "--merge-output"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=str(self.dir),
                start_new_session=True,  # Ctrl-C in the terminal is ours to handle, not Pushpin's
            )
        except OSError as exc:
            raise UserError(f"cannot start Pushpin ({self.binary}): {exc.strerror}") from None
        self.process = process
        self._output_done = anyio.Event()
        write_state(self.project_dir, str(self.dir), [process.pid])
        return process

    async def _relay_logs(self, process: anyio.abc.Process) -> None:
        assert process.stdout is not None
        pending = b""
        try:
            async for data in process.stdout:
                pending += data
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    line = raw.decode(errors="replace").rstrip()
                    if line:
                        self.recent.append(line)
                        relay_line(self.log, line)
        finally:
            self._output_done.set()

    async def _wait_ready(self, process: anyio.abc.Process) -> None:
        """Both ports answer and the publish port is really Pushpin's API."""
        with anyio.move_on_after(READY_TIMEOUT) as scope:
            for port in (self.settings.proxy_port, self.settings.publish_port):
                while True:
                    if process.returncode is not None:
                        raise UserError(await self._exited_message(process))
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
            raise UserError(self._failure(f"was not ready within {READY_TIMEOUT:.0f}s"))
        self._pids = [process.pid, *pid_file_pids(self.rundir)]
        write_state(self.project_dir, str(self.dir), self._pids)

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
                    raise UserError(await self._exited_message(process))
                await anyio.sleep(0.05)

    async def _probe_once(self, request: bytes, expect: bytes) -> bool:
        answer = b""
        with anyio.move_on_after(0.5), contextlib.suppress(OSError, anyio.EndOfStream):
            async with await anyio.connect_tcp("127.0.0.1", self.settings.proxy_port) as stream:
                await stream.send(request)
                while expect not in answer:
                    answer += await stream.receive()
        return expect in answer

    async def _exited_message(self, process: anyio.abc.Process) -> str:
        with anyio.move_on_after(1.0):  # its last lines, unless orphans hold the pipe open
            await self._output_done.wait()
        return self._failure(f"exited while starting (status {process.returncode})")

    def _failure(self, what: str) -> str:
        """``Pushpin (BINARY VERSION) WHAT``, then its last few output lines, indented."""
        lines = list(self.recent)[-8:]
        tail = "; its last lines:\n" + "\n".join(f"  {line}" for line in lines)
        return f"Pushpin ({self.binary} {self.version}) {what}" + (tail if lines else "")

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Start Pushpin, signal readiness, then keep it running (restarting with backoff)."""
        backoff = 0.5
        started = False
        while True:
            process = await self._spawn()
            failed: UserError | None = None
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._relay_logs, process)
                try:
                    await self._wait_ready(process)
                except UserError as exc:
                    if not started:  # raised below, outside this group (no ExceptionGroup)
                        failed = exc
                        await self._terminate(process)
                        await self._cleanup_children()
                        tg.cancel_scope.cancel()
                    else:
                        self.log.error(str(exc))
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
            if failed is not None:
                raise failed
            if self._stopping:
                return
            self._check_dir()
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
        pids = [*self._pids, *pid_file_pids(self.rundir)]  # the pid files may be gone
        await anyio.to_thread.run_sync(kill_instance, pids, str(self.dir))

    async def stop(self) -> None:
        """One SIGTERM, a wait, SIGKILL if needed, then any child by its pid file; remove files."""
        self._stopping = True
        process = self.process
        if process is not None:
            await self._terminate(process)
        await self._cleanup_children()
        if process is not None:
            await process.aclose()
        shutil.rmtree(self.dir, ignore_errors=True)
        clear_state(self.project_dir, str(self.dir))

    @staticmethod
    async def _terminate(process: anyio.abc.Process) -> None:
        """One SIGTERM, a wait, then SIGKILL if needed.

        Sent to its process group (it leads one, and is not reaped yet, so the group ID is
        its own): a wrapper script's child dies with it. Pushpin's own children are in
        groups of their own, stopped by the runner and found again by their pid files.
        """
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with anyio.move_on_after(STOP_TIMEOUT):
            await process.wait()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    def update_routes(self, backends: Mapping[str, BackendConfig]) -> None:
        """Rewrite the routes file (Pushpin notices and reloads it by itself)."""
        tmp = self.dir / "routes.new"
        try:
            _write_private(tmp, routes_file(backends, self.settings.publish_port))
            tmp.replace(self.routes)
        except OSError as exc:
            self.log.error(f"cannot update Pushpin's routes in {self.dir}: {exc.strerror}")
