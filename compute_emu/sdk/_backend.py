"""Backends (mirrors ``fastly::backend``): named ones from fastly.toml and dynamic ones.

``Backend.builder(name, target)`` registers a backend for the rest of the request (as Viceroy
does), usable with ``send``/``send_async`` by name or by object. Differences from Rust:
timeouts take ``datetime.timedelta`` or seconds; errors are raised, one subclass per Rust
variant (``BackendCreationError.NameInUse``, ``.InvalidTarget``, ``BackendError.DoesNotExist``;
``kind`` names the variant); ``is_healthy()`` reports the ``health`` set in fastly.toml.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import Enum
from typing import ClassVar

from ..manifest import BackendConfig
from ._host import current_host
from ._variants import VariantError, add_variants

_TARGET = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?$")


class BackendHealth(Enum):
    """A backend's health as the local server reports it."""

    Unknown = "unknown"
    Healthy = "healthy"
    Unhealthy = "unhealthy"


class BackendError(VariantError):
    """A backend lookup failed (Rust ``backend::BackendError``)."""

    DoesNotExist: ClassVar[type[BackendError]]


add_variants(BackendError, {"DoesNotExist": "No backend has that name."})


class BackendCreationError(VariantError):
    """A dynamic backend could not be made (Rust ``backend::BackendCreationError``)."""

    NameInUse: ClassVar[type[BackendCreationError]]
    InvalidName: ClassVar[type[BackendCreationError]]
    InvalidTarget: ClassVar[type[BackendCreationError]]


add_variants(
    BackendCreationError,
    {
        "NameInUse": "A backend with this name already exists.",
        "InvalidName": "The name is empty.",
        "InvalidTarget": "The target is not host or host:port.",
    },
)


def _ms(value: timedelta | float) -> int:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise ValueError("a timeout cannot be negative")
    return int(seconds * 1000)


class Backend:
    """A backend the app can send requests to."""

    def __init__(self, config: BackendConfig, dynamic: bool) -> None:
        self._config = config
        self._dynamic = dynamic

    @classmethod
    def from_name(cls, name: str) -> Backend:
        """The backend called ``name``; raises ``BackendError`` if there is none."""
        host = current_host("Backend.from_name()")
        config = host.backend_config(name)
        if config is None:
            raise BackendError.DoesNotExist(f"no backend named {name!r}")
        return cls(config, dynamic=name in getattr(host, "dynamic_backends", {}))

    @staticmethod
    def exists(name: str) -> bool:
        """Whether a backend called ``name`` exists (static or registered dynamically)."""
        return current_host("Backend.exists()").backend_config(name) is not None

    @staticmethod
    def builder(name: str, target: str) -> BackendBuilder:
        """Start a dynamic backend for ``target`` (``host`` or ``host:port``)."""
        return BackendBuilder(name, target)

    def name(self) -> str:
        return self._config.name

    def is_dynamic(self) -> bool:
        return self._dynamic

    def get_host(self) -> str:
        return self._config.host

    def get_host_override(self) -> str | None:
        return self._config.override_host

    def get_port(self) -> int:
        return self._config.port

    def is_ssl(self) -> bool:
        return self._config.scheme == "https"

    def get_connect_timeout(self) -> timedelta | None:
        ms = self._config.connect_timeout_ms
        return None if ms is None else timedelta(milliseconds=ms)

    def get_first_byte_timeout(self) -> timedelta | None:
        ms = self._config.first_byte_timeout_ms
        return None if ms is None else timedelta(milliseconds=ms)

    def get_between_bytes_timeout(self) -> timedelta | None:
        ms = self._config.between_bytes_timeout_ms
        return None if ms is None else timedelta(milliseconds=ms)

    def is_healthy(self) -> BackendHealth:
        """The ``health`` of the backend in fastly.toml (``Unknown`` if unset or dynamic)."""
        return BackendHealth(self._config.health)

    def __str__(self) -> str:
        return self._config.name

    def __repr__(self) -> str:
        return f"Backend({self._config.name!r})"


class BackendBuilder:
    """Options for a dynamic backend; ``finish()`` registers it."""

    def __init__(self, name: str, target: str) -> None:
        match = _TARGET.match(target)
        if not name:
            raise BackendCreationError.InvalidName("a dynamic backend needs a name")
        if not match:
            raise BackendCreationError.InvalidTarget(
                f"dynamic backend {name!r}: target {target!r} must be host or host:port"
            )
        self._name = name
        self._host = match["host"].strip("[]")
        self._port = int(match["port"]) if match["port"] else None
        self._ssl = False
        self._options: dict[str, object] = {}

    def override_host(self, host: str) -> BackendBuilder:
        self._options["override_host"] = host
        return self

    def connect_timeout(self, timeout: timedelta | float) -> BackendBuilder:
        self._options["connect_timeout_ms"] = _ms(timeout)
        return self

    def first_byte_timeout(self, timeout: timedelta | float) -> BackendBuilder:
        self._options["first_byte_timeout_ms"] = _ms(timeout)
        return self

    def between_bytes_timeout(self, timeout: timedelta | float) -> BackendBuilder:
        self._options["between_bytes_timeout_ms"] = _ms(timeout)
        return self

    def enable_ssl(self) -> BackendBuilder:
        self._ssl = True
        return self

    def disable_ssl(self) -> BackendBuilder:
        self._ssl = False
        return self

    def check_certificate(self, cert_hostname: str) -> BackendBuilder:
        """Verify the server certificate against this name."""
        self._options["cert_host"] = cert_hostname
        return self

    def sni_hostname(self, name: str) -> BackendBuilder:
        """The TLS name (compute-emu verifies the certificate against it too)."""
        self._options.setdefault("cert_host", name)
        return self

    def ca_certificate(self, pem: str) -> BackendBuilder:
        self._options["ca_certificates"] = (pem,)
        return self

    def enable_pooling(self, enabled: bool = True) -> BackendBuilder:
        """Accepted for the Rust API; connections are always pooled locally."""
        return self

    def finish(self) -> Backend:
        """Register the backend for this request; raises ``BackendCreationError``."""
        scheme = "https" if self._ssl else "http"
        port = self._port or (443 if self._ssl else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        config = BackendConfig(
            name=self._name,
            url=f"{scheme}://{host}:{port}/",
            scheme=scheme,
            host=self._host,
            port=port,
            path_prefix="",
            **self._options,  # type: ignore[arg-type]
        )
        if not current_host("BackendBuilder.finish()").register_backend(config):
            raise BackendCreationError.NameInUse(f"a backend named {self._name!r} already exists")
        return Backend(config, dynamic=True)
