"""A fastly.toml backend that is the publish port follows this serve's publish port.

An app publishes as in production through a backend (``https://api.fastly.com/service/<id>
/publish/``, overridden locally in ``[local_server.backends]`` to ``http://127.0.0.1:5561``).
That address names *the* publish port: the one fastly.toml gives Pushpin
(``[local_server.pushpin] publish_port``, default 5561). When this serve publishes on another
port (``--pushpin-publish-port``, or a test's free port), a backend left on the declared one
would publish into whatever else holds it (another serve's Pushpin, other streams). Such a
backend is moved to this serve's publish port, and the move is said at start-up.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

from .manifest import BackendConfig, Manifest
from .pushpin.config import DEFAULT_PUBLISH_PORT

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def declared_publish_port(manifest: Manifest) -> int:
    """The publish port fastly.toml gives Pushpin (or the default, 5561)."""
    return manifest.pushpin.publish_port or DEFAULT_PUBLISH_PORT


def _is_publish_port(backend: BackendConfig, port: int) -> bool:
    return backend.scheme == "http" and backend.host in LOOPBACK_HOSTS and backend.port == port


def _moved(backend: BackendConfig, port: int) -> BackendConfig:
    parts = urlsplit(backend.url)
    host = f"[{backend.host}]" if ":" in backend.host else backend.host
    url = urlunsplit(parts._replace(netloc=f"{host}:{port}"))
    return dataclasses.replace(backend, url=url, port=port)


def follow_publish_port(manifest: Manifest, publish_port: int | None) -> tuple[Manifest, list[str]]:
    """``manifest`` with its publish-port backends moved to ``publish_port`` (this serve's;
    None: Fanout is off, nothing moves), and a line for each backend moved."""
    declared = declared_publish_port(manifest)
    if publish_port is None or publish_port == declared:
        return manifest, []
    backends = dict(manifest.backends)
    notes = []
    for name, backend in manifest.backends.items():
        if _is_publish_port(backend, declared):
            backends[name] = _moved(backend, publish_port)
            notes.append(
                f"backend {name} ({backend.url}) is the publish port fastly.toml declares; this "
                f"serve publishes on port {publish_port}, so {name} goes there (another "
                f"program may hold {declared})"
            )
    if not notes:
        return manifest, []
    return dataclasses.replace(manifest, backends=MappingProxyType(backends)), notes
