"""`compute-emu serve`: settings in, a running server out (until Ctrl-C or SIGTERM)."""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc

from .errors import UserError
from .log import AppOutput, RequestLog
from .manifest import Manifest, load_manifest
from .ports import port_in_use_message
from .runtime.app import App
from .runtime.bridge import Loop
from .runtime.handler import AppHandler
from .runtime.services import Services, build_ssl_contexts
from .server.connection import Addresses, Connection
from .server.framing import HttpDate

# What Viceroy sets in a guest's environment (fastly-compute.md §7).
VICEROY_ENV = {
    "FASTLY_CACHE_GENERATION": "0",
    "FASTLY_CUSTOMER_ID": "0000000000000000000000",
    "FASTLY_HOSTNAME": "localhost",
    "FASTLY_IS_STAGING": "0",
    "FASTLY_POP": "XXX",
    "FASTLY_REGION": "Somewhere",
    "FASTLY_SERVICE_ID": "0000000000000000000000",
    "FASTLY_SERVICE_VERSION": "0",
    "FASTLY_TRACE_ID": "0" * 32,
}


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

    def __init__(self, settings: ServeSettings, log: RequestLog) -> None:
        self.settings = settings
        self.log = log
        self.manifest = load_manifest(settings.project_dir, settings.env)
        for warning in self.manifest.warnings:
            log.warning(warning)
        os.environ.update(VICEROY_ENV)
        os.environ.update(self.manifest.env())
        self.app = App(entry_path(settings, self.manifest))
        self.app.check()
        self.ssl_contexts = build_ssl_contexts(self.manifest.backends, str(self.manifest.path))
        self.address: tuple[str, int] | None = None

    async def run(self, on_ready: Callable[[tuple[str, int]], None] | None = None) -> None:
        """Serve until cancelled or until SIGINT/SIGTERM arrives."""
        settings = self.settings
        try:
            listener = await anyio.create_tcp_listener(
                local_host=settings.host, local_port=settings.port, reuse_port=False
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(port_in_use_message("app", settings.host, settings.port)) from None
            raise UserError(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
            ) from None
        output = AppOutput(sys.stdout, self.log)
        services = Services(
            loop=Loop(),
            app=self.app,
            backends=self.manifest.backends,
            log=self.log,
            output=output,
            manifest_name=str(self.manifest.path),
            ssl_contexts=self.ssl_contexts,
        )
        date = HttpDate()
        handler = AppHandler(services, date)
        sockname = listener.extra(anyio.abc.SocketAttribute.local_address)
        self.address = (str(sockname[0]), int(sockname[1]))
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = output, AppOutput(sys.stderr, self.log)  # type: ignore[assignment]
        try:
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(_stop_on_signal, tg.cancel_scope)

                async def serve_connection(stream: anyio.abc.SocketStream) -> None:
                    client = stream.extra(anyio.abc.SocketAttribute.remote_address)
                    addresses = Addresses(client=client[:2], server=self.address)  # type: ignore[arg-type]
                    await Connection(stream, addresses, handler, date).serve()

                self._announce()
                if on_ready is not None:
                    on_ready(self.address)
                await listener.serve(serve_connection, task_group=tg)
        finally:
            sys.stdout, sys.stderr = saved
            with anyio.CancelScope(shield=True):
                await services.pool.aclose()

    def _announce(self) -> None:
        assert self.address is not None
        host, port = self.address
        self.log.info(f"compute-emu serving {self.app.path} (project {self.manifest.path})")
        for name, backend in self.manifest.backends.items():
            self.log.info(f"  backend {name} -> {backend.url}")
        self.log.info(f"Listening on http://{host}:{port}")


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return
