"""Pushpin as a well-behaved child: checked, started, watched, restarted, and always stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread

from ..errors import UserError
from ..log import RequestLog
from ..manifest import BackendConfig
from ..upstream.client import UpstreamClient
from . import probes
from .config import (
    PushpinSettings,
    PushpinVersion,
    pushpin_conf,
    routes_file,
)
from .logs import relay_line
from .preflight import (
    check_ports,
    find_binary,
    free_port,
    free_ports_of_dead_runs,
    held_by_live_pushpin,
    instance_dir,
    port_free,
    read_version,
    report_reaped,
    write_private,
)
from .processes import (
    clear_state,
    kill_instance,
    live_owners,
    pid_file_pids,
    reap_orphans,
    write_state,
)
from .watchdog import Watchdog

READY_TIMEOUT = 10.0
ROUTES_TIMEOUT = 5.0  # how long update_routes() waits for Pushpin to route by the new file
STOP_TIMEOUT = 10.0
MAX_BACKOFF = 30.0
LINKS_TIMEOUT = 3.0  # for a held stream to get a published message; then Pushpin starts again
LINKS_ATTEMPTS = 3


class _LinksDown(Exception):
    """Pushpin's condure -> handler link did not come up (see ``probes.delivers``)."""


class Pushpin:
    """One Pushpin instance for one `compute-emu serve`.

    Its publish API listens on a private port (``api_port``, chosen free at start); the
    publish port of the settings is compute-emu's own, which checks each request and
    forwards it there (see ``server/publish_port.py``).
    """

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
        self.dir = instance_dir(version)
        self.conf = self.dir / "pushpin.conf"
        self.routes = self.dir / "routes"
        self.rundir = self.dir / "run"
        self.api_port = free_port()
        self.generation = 0  # of the routes file: its probe route is named after it
        self._backends = dict(backends)
        self._write_config()
        self.client = UpstreamClient()  # for the probes
        self.process: anyio.abc.Process | None = None
        self.recent: deque[str] = deque(maxlen=40)
        self._stopping = False
        self._output_done = anyio.Event()
        self._ready = False
        self._pids: list[int] = []  # the runner and its children, as of the last start
        write_state(project_dir, str(self.dir), [])  # known from now on, should we be killed
        # stops the instance if this process ends without stop() (SIGKILL, os._exit, ...)
        self.watchdog: Watchdog | None = Watchdog(project_dir, str(self.dir))

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
            check_ports(settings)
        except UserError as exc:
            killed = reap_orphans(project_dir)
            if killed:
                report_reaped(log, killed)
            if not free_ports_of_dead_runs(settings, log) and not killed:
                if owners := live_owners(project_dir):
                    raise UserError(
                        f"{exc} (another compute-emu serve of this project runs, pid "
                        f"{', '.join(map(str, owners))}: give this one other Pushpin ports "
                        "with --pushpin-proxy-port and --pushpin-publish-port)"
                    ) from None
                raise UserError(f"{exc}{held_by_live_pushpin(settings)}") from None
            check_ports(settings)
        else:
            if killed := reap_orphans(project_dir):
                report_reaped(log, killed)
        return cls(binary, version, settings, project_dir, backends, log)

    def _write_config(self) -> None:
        conf = pushpin_conf(
            self.settings,
            self.version,
            str(self.rundir),
            str(self.routes),
            api_port=self.api_port,
            log_level=2 if self.log.verbose else 1,  # info lines are shown on -v only
        )
        write_private(self.conf, conf)
        write_private(self.routes, self._routes_text())

    def _routes_text(self) -> str:
        return routes_file(self._backends, self.api_port, self.generation)

    @property
    def api_url(self) -> str:
        """Pushpin's own publish API (private: requests go through compute-emu's port)."""
        return f"http://127.0.0.1:{self.api_port}"

    # -- running ----------------------------------------------------------------------
    def _check_dir(self) -> None:
        if not self.conf.is_file():
            raise UserError(
                f"Pushpin's private directory {self.dir} was removed while compute-emu ran "
                "(by another program?); cannot run Pushpin without it: start compute-emu again"
            )

    async def _spawn(self) -> anyio.abc.Process:
        self._check_dir()
        if self.process is not None and not port_free(self.api_port):
            # taken by someone else while Pushpin was down: move to another one
            self.api_port = free_port()
            self._write_config()
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
        self._ready = False
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
                        relay_line(self.log, line, starting=not self._ready)
        finally:
            self._output_done.set()

    async def _wait_ready(self, process: anyio.abc.Process) -> None:
        """The private publish port is really Pushpin's API, and requests go through."""
        with anyio.move_on_after(READY_TIMEOUT) as scope:
            hello = probes.PUBLISH_API_HELLO
            while (answer := await probes.get(self.client, self.api_port, "/", hello)) is None:
                if process.returncode is not None:
                    raise UserError(await self._exited_message(process))
                await anyio.sleep(0.01)
            if hello not in answer:
                raise UserError(f"something other than Pushpin answers on {self.api_url}")
            await self._probe(process)
        if scope.cancelled_caught:
            raise UserError(self._failure(f"was not ready within {READY_TIMEOUT:.0f}s"))
        self._ready = True
        self._pids = [process.pid, *pid_file_pids(self.rundir)]
        write_state(self.project_dir, str(self.dir), self._pids)

    async def _probe(self, process: anyio.abc.Process) -> None:
        """Round-trip requests through Pushpin until its internal links are up.

        Open ports alone do not mean that: a request sent too early can hang (seen with
        WebSockets on 1.36) or get ``500 Accept service unavailable`` (see ``probes``).
        """
        for route, path, expect in probes.READINESS:
            while not await probes.answers(
                self.client, self.settings.proxy_port, route, path, expect
            ):
                if process.returncode is not None:
                    raise UserError(await self._exited_message(process))
                await anyio.sleep(0.05)
        if not await self._links_up(process):
            raise _LinksDown

    async def _links_up(self, process: anyio.abc.Process) -> bool:
        """Whether a held stream gets a published message within ``LINKS_TIMEOUT``."""
        deadline = anyio.current_time() + LINKS_TIMEOUT
        while not await probes.delivers(self.client, self.settings.proxy_port, self.api_port):
            if process.returncode is not None:
                raise UserError(await self._exited_message(process))
            if anyio.current_time() > deadline:
                return False
            await anyio.sleep(0.05)
        return True

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
        attempts = 0
        while True:
            process = await self._spawn()
            failed: UserError | None = None
            links_down = False
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._relay_logs, process)
                try:
                    await self._wait_ready(process)
                except _LinksDown:
                    attempts += 1
                    links_down = True
                    what = "its internal links did not come up (held streams get no messages)"
                    if attempts < LINKS_ATTEMPTS:
                        self.log.warning(f"Pushpin: {what}; starting it again")
                    elif not started:
                        failed = UserError(self._failure(f"started {attempts} times; {what}"))
                    else:
                        self.log.error(self._failure(what))
                    await self._terminate(process)
                    await self._cleanup_children()
                    tg.cancel_scope.cancel()
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
            if links_down and attempts < LINKS_ATTEMPTS:
                continue
            attempts = 0
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
        # anyio's thread, not the server's worker pool: the supervisor also runs without a
        # server, and stops after the server's pool has closed (one hop per restart or stop)
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
        await self.client.aclose()
        shutil.rmtree(self.dir, ignore_errors=True)
        clear_state(self.project_dir, str(self.dir))
        if (watchdog := self.watchdog) is not None:
            self.watchdog = None
            await anyio.to_thread.run_sync(watchdog.close)  # as in _cleanup_children

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

    async def update_routes(self, backends: Mapping[str, BackendConfig]) -> bool:
        """Rewrite the routes file and wait until Pushpin routes by it (it notices the change
        by itself, and reloads a second later): True once the new file's probe route answers,
        False if that did not happen within ``ROUTES_TIMEOUT`` (or the file was not written).
        """
        self._backends = dict(backends)
        self.generation += 1
        tmp = self.dir / "routes.new"
        try:
            write_private(tmp, self._routes_text())
            tmp.replace(self.routes)
        except OSError as exc:
            self.log.error(f"cannot update Pushpin's routes in {self.dir}: {exc.strerror}")
            return False
        return await probes.routes_loaded(
            self.client, self.settings.proxy_port, self.generation, ROUTES_TIMEOUT
        )
