"""`compute-emu serve`: settings in, a running server out (until Ctrl-C, SIGTERM, SIGHUP)."""

from __future__ import annotations

import errno
import functools
import ipaddress
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc

from .aio.listener import Listener
from .aio.loop import Loop
from .aio.stream import Stream
from .aio.workers import MAX_THREADS, WorkerPool
from .cache.store import DEFAULT_CAPACITY, CacheStore
from .console import Console
from .errors import UserError
from .log import RequestLog, capture_app_output
from .manifest import Manifest, load_manifest
from .platform import Platform
from .ports import PortUse, conflict_message, port_in_use_message, taken_ports
from .publish_backends import follow_publish_port
from .pushpin.config import PushpinSettings, pushpin_settings, stats_address
from .pushpin.supervisor import Pushpin
from .restart import ENV as RESTART_FD
from .restart import adopt, inherited_socket
from .rules.connection_slots import ConnectionSlots
from .rules.data_rate import DEFAULT_MIN_RATE, MinDataRate
from .runtime import environ
from .runtime.app import App
from .runtime.cache_admin import with_cache_admin
from .runtime.handler import AppHandler
from .runtime.services import Backends, Services
from .sdk.compute_runtime import LOCAL_VALUES
from .server.admission import HostPolicy, parse_authority
from .server.connection import BODY_TIMEOUT, Addresses, Connection, Limits
from .server.publish_admission import AppOrigins, publish_host_policy
from .server.publish_port import PublishForwarder, serve_publish_port
from .terminal import leave_terminal
from .watch import WatchedProject, watch_project

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MANIFEST_POLL = 1.0  # seconds between fastly.toml checks
FD_RESERVE = 256  # file descriptors kept for backends, Pushpin, files (see max_connections)

# What Viceroy sets in a guest's environment (fastly-compute.md §7).
VICEROY_ENV = {**LOCAL_VALUES, "FASTLY_TRACE_ID": "0" * 32}


@dataclass(frozen=True)
class ServeSettings:
    """Everything `serve` needs, from flags (the manifest is read from ``project_dir``)."""

    project_dir: Path = Path(".")
    env: str | None = None
    host: str = "127.0.0.1"
    port: int = 7676
    file: Path | None = None
    verbose: bool = False
    quiet: bool = False
    # Fanout: the flags of `fastly compute serve`; None means "not given" (manifest, then default)
    enable_pushpin: bool = False
    pushpin_path: str | None = None
    pushpin_proxy_port: int | None = None
    pushpin_publish_port: int | None = None
    client_ip: IpAddress | None = None  # what the app sees instead of the TCP peer
    kv_persist: Path | None = None  # where KV store writes are kept across restarts
    body_timeout: float = BODY_TIMEOUT  # seconds a request body may stall (--body-timeout)
    # bytes/s a request body (and a response the client takes) must average after the grace
    # period, 0 for none (--min-body-rate)
    min_body_rate: float = DEFAULT_MIN_RATE
    max_connections: int | None = None  # --max-connections; None: from the fd limit
    max_threads: int = MAX_THREADS  # --max-threads: main() calls running at once
    allow_hosts: tuple[str, ...] = ()  # --allow-host: Host names served besides loopback
    cache_size: int = DEFAULT_CAPACITY  # --cache-size: bytes the in-memory cache may hold
    no_cache: bool = False  # --no-cache: send() never uses the readthrough cache
    wasm: Path | None = None  # --wasm: serve this built component (relative to the project)
    build_env: Path | None = None  # --build-env: where fastly-compute is (for --wasm's bindings)
    # False: edits to fastly.toml (backends, stores, Pushpin) are not applied while serving
    # (compute_emu.testing keeps its overrides); app code still reloads
    watch_manifest: bool = True
    # "wit": compute_emu.sdk apps reach the runtime through the SDK's Wasm host over
    # compute-emu's own wit_world (official/loopback.py), as inside a built component
    sdk_host: str = "native"


def parse_client_ip(value: str | None) -> IpAddress | None:
    """``--client-ip``: an IPv4 or IPv6 address."""
    if value is None:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise UserError(f"--client-ip {value!r}: not an IPv4 or IPv6 address") from None


def parse_addr(addr: str) -> tuple[str, int]:
    """``"127.0.0.1:7676"`` -> ``("127.0.0.1", 7676)``; a clear error otherwise."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UserError(
            f"--addr {addr!r}: expected HOST:PORT, e.g. 127.0.0.1:7676 (port 0 = any free)"
        )
    return host.strip("[]"), int(port)


def entry_path(settings: ServeSettings, manifest: Manifest) -> Path:
    """``--file``, else ``[scripts] entry``, else ``src/main.py`` in the project."""
    if settings.file is not None:
        return settings.file
    if manifest.scripts.entry is not None:
        return manifest.scripts.entry
    return manifest.project_dir / "src" / "main.py"


class Server:
    """A loaded project, ready to serve: everything that can fail on bad input already did."""

    def __init__(
        self, settings: ServeSettings, log: RequestLog, manifest: Manifest | None = None
    ) -> None:
        """``manifest``: an already loaded one (compute_emu.testing's overrides), else the
        project's fastly.toml is read."""
        self.settings = settings
        self.log = log
        self.manifest = manifest or load_manifest(settings.project_dir, settings.env)
        for warning in self.manifest.warnings:
            log.warning(warning)
        enabled, self.pushpin_settings = self._pushpin_of(self.manifest)
        self.publish_port = self.pushpin_settings.publish_port if enabled else None
        self.manifest, moved = follow_publish_port(self.manifest, self.publish_port)
        for note in moved:
            log.info(note)
        # What the app sees in os.environ on top of the process environment (a layer per
        # main() call, never written to the process: see runtime/environ.py).
        self.app_env = {**VICEROY_ENV, **self.manifest.env()}
        self.app = self._load_app(settings, log)
        with environ.bound(self.app_env):
            self.app.check()
        self.backends = Backends.load(self.manifest.backends, str(self.manifest.path))
        self.platform = Platform.from_manifest(self.manifest, settings.kv_persist)
        for warning in self.platform.warnings:
            log.warning(warning)
        self.address: tuple[str, int] | None = None
        self.host_policy = self._host_policy(self.manifest)
        self.pushpin: Pushpin | None = None
        self.console: Console | None = None
        uses = self._port_uses(enabled)
        pp = self.pushpin_settings
        if enabled and settings.port in (pp.proxy_port, pp.publish_port):
            raise UserError(f"--addr port {settings.port} is also a Pushpin port")
        if (taken := taken_ports(uses)) and (uses[0] in taken or not enabled):
            raise UserError(conflict_message(uses, taken))  # all taken ports, in one line
        if enabled:
            path = settings.pushpin_path or self.manifest.pushpin.pushpin_path
            try:  # Pushpin's ports, once it stopped what it may (orphans of a dead serve)
                project, backends = self.manifest.project_dir, self.manifest.backends
                self.pushpin = Pushpin.prepare(path, pp, project, backends, log)
            except UserError as exc:
                if not (taken := taken_ports(uses)):
                    raise
                raise UserError(conflict_message(uses, taken, str(exc))) from None

    def _load_app(self, settings: ServeSettings, log: RequestLog) -> App:
        """The built component (--wasm), an official-SDK app, or a compute_emu.sdk app."""
        if settings.wasm is not None:
            from .wasm.app import wasm_app

            return wasm_app(settings.wasm, self.manifest, settings.build_env, log)
        from .official.detect import find_entry  # reads the source, imports nothing of it

        explicit = settings.file if settings.file is not None else self.manifest.scripts.entry
        entry = find_entry(self.manifest.project_dir, explicit)
        if entry is not None:  # an app of the official fastly-compute SDK: its bindings
            from .official.serving import load

            return load(entry, self.manifest.project_dir, log)
        if settings.sdk_host == "wit":
            from .official.loopback import loopback_app

            return loopback_app(entry_path(settings, self.manifest), log)
        return App(entry_path(settings, self.manifest))

    async def run(
        self,
        on_ready: Callable[[tuple[str, int]], None] | None = None,
        *,
        handle_signals: bool = True,
    ) -> None:
        """Serve until cancelled (or, with ``handle_signals``, until SIGINT, SIGTERM or SIGHUP
        arrives); then stop Pushpin too."""
        try:
            await self._run(on_ready, handle_signals)
        finally:
            if self.pushpin is not None:
                with anyio.CancelScope(shield=True):
                    await self.pushpin.stop()

    async def _listen(
        self, what: str = "app", host: str | None = None, port: int | None = None
    ) -> Listener:
        host = self.settings.host if host is None else host
        port = self.settings.port if port is None else port
        if what == "app" and (kept := inherited_socket()) is not None:
            return await adopt(kept)  # restarted (compute_emu/restart.py): same socket
        try:
            return await Listener.open(host, port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(port_in_use_message(what, host, port)) from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None

    async def _serve_publish(self, listener: Listener, services: Services, limits: Limits) -> None:
        """compute-emu's publish port, forwarding to Pushpin's private one (after checks)."""
        pushpin, address = self.pushpin, self.address
        assert pushpin is not None and address is not None
        app = AppOrigins.build(address[1], [*self.settings.allow_hosts, self.settings.host])
        forwarder = PublishForwarder(
            services.pool, lambda: pushpin.api_port, services.date, self.log, app
        )
        await serve_publish_port(
            listener, forwarder, lambda: publish_host_policy(self.host_policy), limits
        )

    async def _run(
        self, on_ready: Callable[[tuple[str, int]], None] | None, handle_signals: bool
    ) -> None:
        listener = await self._listen()
        capture_app_output()
        loop = Loop()
        services = Services(
            loop=loop,
            workers=WorkerPool(
                loop.asyncio_loop, max_threads=self.settings.max_threads, mailbox=loop.mailbox
            ),
            app=self.app,
            backends=self.backends,
            log=self.log,
            manifest_name=str(self.manifest.path),
            platform=self.platform,
            env=self.app_env,
            fanout_proxy_port=None if self.pushpin is None else self.pushpin_settings.proxy_port,
            client_ip=self.settings.client_ip,
            cache=CacheStore(self.settings.cache_size),
            readthrough=not self.settings.no_cache,
        )
        pushpin = self.pushpin
        self.console = console = Console(
            services,
            publish_port=None if pushpin is None else self.pushpin_settings.publish_port,
            stats_address=None if pushpin is None else stats_address(str(pushpin.rundir)),
        )
        handler = console.wrap(
            with_cache_admin(AppHandler(services), services.cache, services.date, services.log)
        )
        self.address = listener.address
        limits = Limits(
            body_timeout=self.settings.body_timeout,
            min_rate=MinDataRate(self.settings.min_body_rate),
        )
        slots: ConnectionSlots[Connection] = ConnectionSlots(
            self.settings.max_connections or default_max_connections()
        )
        publish: Listener | None = None
        try:
            if self.pushpin is not None:
                port = self.pushpin_settings.publish_port
                publish = await self._listen("Pushpin publish", "127.0.0.1", port)
            async with anyio.create_task_group() as tg:
                if handle_signals:
                    tg.start_soon(_stop_on_signal, tg.cancel_scope)
                if self.pushpin is not None and publish is not None:
                    await tg.start(self.pushpin.run)
                    tg.start_soon(self._serve_publish, publish, services, limits)
                if self.settings.watch_manifest:
                    tg.start_soon(self._watch_manifest, services)
                watched = WatchedProject(
                    log=self.log,
                    manifest=self.manifest,
                    project_dir=self.settings.project_dir,
                    env=self.settings.env,
                    kv_persist=self.settings.kv_persist,
                    follow_manifest=self.settings.watch_manifest,
                    app_dir=self.app.dir,
                    address=self.address,
                    pushpin_of=self._pushpin_of,
                    apply_platform=functools.partial(setattr, services, "platform"),
                )
                tg.start_soon(watch_project, watched)  # syntax errors, stores
                tg.start_soon(console.run)

                async def serve_connection(stream: Stream) -> None:
                    client = stream.extra(anyio.abc.SocketAttribute.remote_address)
                    addresses = Addresses(client=client[:2], server=self.address)  # type: ignore[arg-type]
                    await Connection(
                        stream, addresses, handler, services.date, limits, self.host_policy, slots
                    ).serve()

                self._announce()
                if on_ready is not None:
                    on_ready(self.address)
                await listener.serve(serve_connection)
        finally:
            console.close()
            await listener.aclose()
            if publish is not None:
                await publish.aclose()
            services.workers.close()
            with anyio.CancelScope(shield=True):
                await services.pool.aclose()

    async def _watch_manifest(self, services: Services) -> None:
        """Pick up backend changes in fastly.toml: Pushpin's routes are rewritten to match, and
        the new backends are swapped in (and announced) once Pushpin routes to them."""
        path = self.manifest.path
        # Unknown at first: an edit made after the manifest was loaded but before this task's
        # first step (the line announcing the server is printed first) is not missed, since
        # the first check compares what is on disk with the backends being served.
        seen: float | object | None = _UNCHECKED
        while True:
            await anyio.sleep(MANIFEST_POLL)
            mtime = _mtime(path)
            if mtime == seen:
                continue
            seen = mtime
            try:
                loaded = load_manifest(self.settings.project_dir, self.settings.env)
                manifest, _ = follow_publish_port(loaded, self.publish_port)
                if dict(manifest.backends) == dict(services.backends):
                    continue
                backends = Backends.load(manifest.backends, str(manifest.path))
            except UserError as exc:
                self.log.error(f"{exc} (fastly.toml changed; keeping the previous backends)")
                continue
            if self.pushpin is not None and not await self.pushpin.update_routes(manifest.backends):
                self.log.warning(
                    f"{path.name} changed, but Pushpin has not loaded its new routes yet: "
                    "handoffs to new backends may fail until it does"
                )
            services.backends = backends  # swapped whole: requests under way keep theirs
            self.host_policy = self._host_policy(manifest)
            names = ", ".join(manifest.backends) or "none"
            self.log.info(f"{path.name} changed: backends are now {names}")

    def _port_uses(self, fanout: bool) -> list[PortUse]:
        """The app's port (unless a restart hands its socket over), then Pushpin's two."""
        settings, pp = self.settings, self.pushpin_settings
        handed_over = RESTART_FD in os.environ  # compute_emu/restart.py: the app's socket is kept
        uses = [PortUse("app", settings.host, 0 if handed_over else settings.port, "--addr")]
        if fanout:
            uses.append(
                PortUse("Pushpin proxy", "127.0.0.1", pp.proxy_port, "--pushpin-proxy-port")
            )
            uses.append(
                PortUse("Pushpin publish", "127.0.0.1", pp.publish_port, "--pushpin-publish-port")
            )
        return uses

    def _host_policy(self, manifest: Manifest) -> HostPolicy:
        """The Host names served: --allow-host, the bound address, fastly.toml's hosts."""
        names = [*self.settings.allow_hosts, self.settings.host]
        for backend in manifest.backends.values():
            names.append(backend.host)  # the app may be its own origin (through Pushpin)
            if backend.override_host:
                parsed = parse_authority(backend.override_host)
                names.append(parsed[0] if parsed else backend.override_host)
        return HostPolicy.build(names)

    def _pushpin_of(self, manifest: Manifest) -> tuple[bool, PushpinSettings]:
        """Whether Fanout is on, and Pushpin's settings, for ``manifest`` with these flags."""
        flags = self.settings
        return pushpin_settings(
            flags.enable_pushpin,
            flags.pushpin_proxy_port,
            flags.pushpin_publish_port,
            manifest.pushpin,
        )

    def _announce(self) -> None:
        assert self.address is not None
        host, port = self.address
        self.log.info(f"compute-emu serving {self.app.path} (project {self.manifest.path})")
        for name, backend in self.manifest.backends.items():
            self.log.info(f"  backend {name} -> {backend.url}")
        if self.pushpin is not None:
            pp = self.pushpin_settings
            self.log.info(
                f"  fanout: Pushpin {self.pushpin.version} proxy on 127.0.0.1:{pp.proxy_port}, "
                f"publish at http://127.0.0.1:{pp.publish_port}/publish/"
            )
        self.log.info(f"Listening on http://{host}:{port}")
        if self.console is not None:
            self.log.info(f"  console: {self.console.url((host, port))}")


def default_max_connections() -> int:
    """The connections the app port holds by default: half the file descriptors the process
    may open, less a reserve (a handed-off connection costs two: the client's and Pushpin's
    or the backend's)."""
    try:
        import resource
    except ImportError:  # not on this platform: Windows' own default
        return 8192
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 19
    return max((soft - FD_RESERVE) // 2, 64)


_UNCHECKED = object()  # no mtime seen yet (a missing file's is None)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


#: Signals that stop serving cleanly (Pushpin stopped, files removed): Ctrl-C, kill, and a
#: closed terminal (SIGHUP: a closed tab, `tmux kill-session`), which would otherwise end
#: the process on the spot.
STOP_SIGNALS = tuple(
    sig for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig
)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async for received in signals:
            if received == getattr(signal, "SIGHUP", None):
                leave_terminal()  # writing to it now fails (EIO): let the stop finish
            scope.cancel()
            return
