"""What every request of one server reads: settings built once, and backends swapped whole.

Nothing here is process-wide: two servers in one process each have their own
:class:`Services`. The one thing that changes while serving, the backends of fastly.toml with
their TLS contexts, is one immutable :class:`Backends` value replaced as a whole on a change,
so a request that started with one set of backends never sees half of another.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..aio.loop import Loop
from ..aio.workers import WorkerPool
from ..cache.store import CacheStore
from ..errors import UserError
from ..log import RequestLog
from ..manifest import BackendConfig
from ..server.framing import HttpDate
from ..upstream.client import UpstreamClient, make_ssl_context
from .app import App

if TYPE_CHECKING:
    from ..platform import Platform


@dataclass(frozen=True)
class Backends(Mapping[str, BackendConfig]):
    """The backends of fastly.toml by name, with the TLS context of each https one."""

    configs: Mapping[str, BackendConfig] = field(default_factory=dict)
    ssl_contexts: Mapping[str, ssl.SSLContext] = field(default_factory=dict)

    @classmethod
    def load(cls, configs: Mapping[str, BackendConfig], manifest_name: str) -> Backends:
        """Build the TLS contexts now, so a bad certificate is an error at load time."""
        return cls(dict(configs), build_ssl_contexts(configs, manifest_name))

    def ssl_context(self, name: str) -> ssl.SSLContext | None:
        """The TLS context of an https backend (None for http)."""
        return self.ssl_contexts.get(name)

    def __getitem__(self, name: str) -> BackendConfig:
        return self.configs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.configs)

    def __len__(self) -> int:
        return len(self.configs)


@dataclass
class Services:
    """Built once per server; read by every request. Only ``backends`` is ever replaced."""

    loop: Loop
    workers: WorkerPool  # the threads main() runs on
    app: App
    backends: Backends
    log: RequestLog
    manifest_name: str
    platform: Platform
    env: Mapping[str, str] = field(default_factory=dict)  # what the app adds to os.environ
    fanout_proxy_port: int | None = None  # Pushpin's proxy port when Fanout is on
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None  # --client-ip
    date: HttpDate = field(default_factory=HttpDate)
    pool: UpstreamClient = field(default_factory=UpstreamClient)
    cache: CacheStore = field(default_factory=CacheStore)  # readthrough + Core/Simple cache
    readthrough: bool = True  # False with --no-cache: send() always goes to the backend

    _dynamic_ssl: dict[tuple[tuple[str, ...], bool], ssl.SSLContext] = field(default_factory=dict)

    def ssl_context(self, backend: str) -> ssl.SSLContext | None:
        """The TLS context of an https backend (None for http)."""
        return self.backends.ssl_context(backend)

    def dynamic_ssl_context(
        self, ca_certificates: tuple[str, ...], use_sni: bool
    ) -> ssl.SSLContext:
        """One TLS context per (CA certificates, SNI) of dynamic backends, shared by requests,
        so their connections are pooled across requests as the static backends' are."""
        key = (ca_certificates, use_sni)
        context = self._dynamic_ssl.get(key)
        if context is None:
            context = self._dynamic_ssl[key] = make_ssl_context(ca_certificates, use_sni, None)
        return context


def build_ssl_contexts(
    backends: Mapping[str, BackendConfig], manifest_name: str
) -> dict[str, ssl.SSLContext]:
    """One verifying TLS context per https backend, built at start-up so bad PEM shows now."""
    contexts: dict[str, ssl.SSLContext] = {}
    for name, backend in backends.items():
        if backend.scheme != "https":
            continue
        key_path = f"local_server.backends.{name}"
        try:
            if backend.client_certificate is None:
                contexts[name] = make_ssl_context(backend.ca_certificates, backend.use_sni, None)
                continue
            # ssl wants files: write the PEM texts to private temporary files for the load
            with tempfile.TemporaryDirectory(prefix="compute-emu-tls-") as tmp:
                cert = os.path.join(tmp, "cert.pem")
                key = os.path.join(tmp, "key.pem")
                for path, text in (
                    (cert, backend.client_certificate.certificate),
                    (key, backend.client_certificate.key),
                ):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "w") as f:
                        f.write(text)
                contexts[name] = make_ssl_context(
                    backend.ca_certificates, backend.use_sni, (cert, key)
                )
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise UserError(
                f"{manifest_name}: {key_path}: invalid TLS certificate or key: {exc}"
            ) from None
    return contexts
