"""Shared, long-lived things every request uses: the loop handle, backends, pool, logs."""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from ..errors import UserError
from ..log import AppOutput, RequestLog
from ..manifest import BackendConfig
from ..server.framing import HttpDate
from ..upstream.client import ConnectionPool, make_ssl_context
from .app import App
from .bridge import Loop

if TYPE_CHECKING:
    from ..platform import Platform

APP_THREADS = 256  # how many main() calls may run at once


@dataclass
class Services:
    """Built once per server; read by every request."""

    loop: Loop
    app: App
    backends: Mapping[str, BackendConfig]
    log: RequestLog
    output: AppOutput
    manifest_name: str
    date: HttpDate = field(default_factory=HttpDate)
    fanout_proxy_port: int | None = None  # set when Pushpin runs
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None  # --client-ip
    pool: ConnectionPool = field(default_factory=ConnectionPool)
    limiter: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(APP_THREADS)
    )
    ssl_contexts: dict[str, ssl.SSLContext] = field(default_factory=dict)
    platform: Platform = field(default=None)  # type: ignore[assignment]  # set by serve

    def ssl_context(self, backend: str) -> ssl.SSLContext | None:
        """The TLS context of an https backend (None for http)."""
        return self.ssl_contexts.get(backend)


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
