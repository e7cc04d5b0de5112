"""Backends (mirrors ``fastly::backend``): named ones from fastly.toml and dynamic ones.

``Backend.builder(name, target)`` registers a backend for the rest of the request (as Viceroy
does), usable with ``send``/``send_async`` by name or by object. Differences from Rust:
timeouts take ``datetime.timedelta`` or seconds; errors are raised, one subclass per Rust
variant (``BackendCreationError.NameInUse``, ``.InvalidTarget``, ``BackendError.DoesNotExist``;
``kind`` names the variant); ``is_healthy()`` reports the ``health`` set in fastly.toml.

The connection options of the builder (TLS versions and ciphers, HTTP and TCP keepalive,
``max_connections``, ``max_use``, ``max_lifetime``, ``prefer_ipv6``, ``enable_grpc``,
``provide_client_certificate``) are accepted and reported back by the ``Backend`` getters;
locally the upstream client keeps its own pool and TLS settings (TLS 1.2+, pooled keep-alive
connections), so they do not change how compute-emu connects.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import Enum
from typing import ClassVar

from ._host import current_host
from ._interface import BackendInfo
from ._variants import VariantError, add_variants

_TARGET = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?$")


class SslVersion(Enum):
    """A TLS version for ``set_min_tls_version``/``set_max_tls_version``."""

    TLS1 = 0
    TLS1_1 = 1
    TLS1_2 = 2
    TLS1_3 = 3


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
    Disallowed: ClassVar[type[BackendCreationError]]
    HostcallError: ClassVar[type[BackendCreationError]]


add_variants(
    BackendCreationError,
    {
        "NameInUse": "A backend with this name already exists.",
        "InvalidName": "The name is empty.",
        "InvalidTarget": "The target is not host or host:port.",
        "Disallowed": "Dynamic backends are not allowed for this service.",
        "HostcallError": "The host could not create the backend.",
    },
)


def _timedelta(ms: int | None) -> timedelta | None:
    return None if ms is None else timedelta(milliseconds=ms)


def _ms(value: timedelta | float) -> int:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise ValueError("a timeout cannot be negative")
    return int(seconds * 1000)


class Backend:
    """A backend the app can send requests to (the host's description of it)."""

    def __init__(self, info: BackendInfo) -> None:
        self._info = info
        self._extras: dict[str, object] = dict(info.options)

    @classmethod
    def from_name(cls, name: str) -> Backend:
        """The backend called ``name``; raises ``BackendError`` if there is none."""
        info = current_host("Backend.from_name()").backend(name)
        if info is None:
            raise BackendError.DoesNotExist(f"no backend named {name!r}")
        return cls(info)

    @staticmethod
    def exists(name: str) -> bool:
        """Whether a backend called ``name`` exists (static or registered dynamically)."""
        return current_host("Backend.exists()").backend(name) is not None

    @staticmethod
    def builder(name: str, target: str) -> BackendBuilder:
        """Start a dynamic backend for ``target`` (``host`` or ``host:port``)."""
        return BackendBuilder(name, target)

    def name(self) -> str:
        return self._info.name

    def is_dynamic(self) -> bool:
        return self._info.dynamic

    def get_host(self) -> str:
        return self._info.host

    def get_host_override(self) -> str | None:
        return self._info.override_host

    def get_port(self) -> int:
        return self._info.port

    def is_ssl(self) -> bool:
        return self._info.use_ssl

    def get_connect_timeout(self) -> timedelta | None:
        return _timedelta(self._info.connect_timeout_ms)

    def get_first_byte_timeout(self) -> timedelta | None:
        return _timedelta(self._info.first_byte_timeout_ms)

    def get_between_bytes_timeout(self) -> timedelta | None:
        return _timedelta(self._info.between_bytes_timeout_ms)

    def get_ssl_min_version(self) -> SslVersion | None:
        """The minimum TLS version set with the builder, if any."""
        return self._extras.get("min_tls")  # type: ignore[return-value]

    def get_ssl_max_version(self) -> SslVersion | None:
        """The maximum TLS version set with the builder, if any."""
        return self._extras.get("max_tls")  # type: ignore[return-value]

    def get_http_keepalive_time(self) -> timedelta:
        """How long an idle keep-alive connection is kept (builder value, else 0)."""
        return timedelta(milliseconds=int(self._extras.get("http_keepalive_ms", 0)))  # type: ignore[call-overload]

    def get_tcp_keepalive_enable(self) -> bool:
        """Whether TCP keepalive was asked for."""
        return bool(self._extras.get("tcp_keepalive", False))

    def get_tcp_keepalive_interval(self) -> timedelta:
        """Seconds between TCP keepalive probes (builder value, else 0)."""
        return timedelta(seconds=int(self._extras.get("tcp_interval", 0)))  # type: ignore[call-overload]

    def get_tcp_keepalive_probes(self) -> int:
        """TCP keepalive probes before the connection is dropped (builder value, else 0)."""
        return int(self._extras.get("tcp_probes", 0))  # type: ignore[call-overload]

    def get_tcp_keepalive_time(self) -> timedelta:
        """Idle time before TCP keepalive probes start (builder value, else 0)."""
        return timedelta(seconds=int(self._extras.get("tcp_time", 0)))  # type: ignore[call-overload]

    def is_healthy(self) -> BackendHealth:
        """The ``health`` of the backend in fastly.toml (``Unknown`` if unset or dynamic)."""
        return BackendHealth(self._info.health)

    def __str__(self) -> str:
        return self._info.name

    def __repr__(self) -> str:
        return f"Backend({self._info.name!r})"


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
        self._extras: dict[str, object] = {}

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
        self._options["sni_hostname"] = name
        self._options.setdefault("cert_host", name)
        return self

    def ca_certificate(self, pem: str) -> BackendBuilder:
        self._options["ca_certificates"] = (pem,)
        return self

    def enable_pooling(self, enabled: bool = True) -> BackendBuilder:
        """Accepted for the Rust API; connections are always pooled locally."""
        self._extras["pooling"] = bool(enabled)
        return self

    def set_min_tls_version(self, version: SslVersion) -> BackendBuilder:
        """Minimum TLS version (recorded; the local client always uses TLS 1.2 or later)."""
        self._extras["min_tls"] = SslVersion(version)
        return self

    def set_max_tls_version(self, version: SslVersion) -> BackendBuilder:
        """Maximum TLS version (recorded)."""
        self._extras["max_tls"] = SslVersion(version)
        return self

    def tls_ciphers(self, ciphers: str) -> BackendBuilder:
        """OpenSSL cipher list (recorded)."""
        self._extras["ciphers"] = str(ciphers)
        return self

    def provide_client_certificate(self, certificate: str, key: object) -> BackendBuilder:
        """A client certificate for mutual TLS (recorded; use fastly.toml's
        ``client_certificate`` for a backend that needs one locally)."""
        self._extras["client_certificate"] = (certificate, key)
        return self

    def http_keepalive_time(self, time: timedelta | float) -> BackendBuilder:
        """How long an idle keep-alive connection may be kept (recorded)."""
        self._extras["http_keepalive_ms"] = _ms(time)
        return self

    def tcp_keepalive_enable(self, enabled: bool) -> BackendBuilder:
        """TCP keepalive on the backend connection (recorded)."""
        self._extras["tcp_keepalive"] = bool(enabled)
        return self

    def tcp_keepalive_interval_secs(self, seconds: int) -> BackendBuilder:
        """Seconds between TCP keepalive probes (recorded)."""
        self._extras["tcp_interval"] = int(seconds)
        return self

    def tcp_keepalive_probes(self, probes: int) -> BackendBuilder:
        """TCP keepalive probes before giving up (recorded)."""
        self._extras["tcp_probes"] = int(probes)
        return self

    def tcp_keepalive_time_secs(self, seconds: int) -> BackendBuilder:
        """Idle seconds before TCP keepalive probes start (recorded)."""
        self._extras["tcp_time"] = int(seconds)
        return self

    def max_connections(self, count: int) -> BackendBuilder:
        """Upper bound of connections to the backend (recorded)."""
        self._extras["max_connections"] = int(count)
        return self

    def max_use(self, count: int) -> BackendBuilder:
        """Requests per keep-alive connection (recorded)."""
        self._extras["max_use"] = int(count)
        return self

    def max_lifetime(self, time: timedelta | float) -> BackendBuilder:
        """How long a keep-alive connection may live (recorded)."""
        self._extras["max_lifetime_ms"] = _ms(time)
        return self

    def prefer_ipv6(self, prefer: bool) -> BackendBuilder:
        """Prefer IPv6 when the name resolves to both (recorded)."""
        self._extras["prefer_ipv6"] = bool(prefer)
        return self

    def enable_grpc(self, enabled: bool = True) -> BackendBuilder:
        """Speak gRPC (HTTP/2) to the backend (recorded; compute-emu speaks HTTP/1.1)."""
        self._extras["grpc"] = bool(enabled)
        return self

    def finish(self) -> Backend:
        """Register the backend for this request; raises ``BackendCreationError``."""
        info = BackendInfo(
            name=self._name,
            host=self._host,
            port=self._port or (443 if self._ssl else 80),
            use_ssl=self._ssl,
            dynamic=True,
            options=tuple(self._extras.items()),
            **self._options,  # type: ignore[arg-type]
        )
        if not current_host("BackendBuilder.finish()").register_backend(info):
            raise BackendCreationError.NameInUse(f"a backend named {self._name!r} already exists")
        return Backend(info)
