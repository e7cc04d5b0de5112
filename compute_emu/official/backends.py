"""``backend``: fastly.toml's backends and dynamic ones, through ``compute_emu.sdk.Backend``.

A dynamic backend lives for its request, as in a Wasm sandbox: ``register-dynamic-backend``
goes to the request's host like ``BackendBuilder.finish()`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..sdk._backend import Backend, BackendBuilder, BackendCreationError, BackendError
from . import handles, registry
from .messages import fit, fit_bytes
from .registry import impl


@dataclass
class DynamicOptions:
    """What ``dynamic-backend-options`` collected."""

    values: dict[str, Any] = field(default_factory=dict)


def _backend(handle: object) -> Backend:
    backend: Backend = handles.emu(handle, Backend)
    return backend


@impl("backend", "Backend.open")
def backend_open(cls: type, name: str) -> Any:
    try:
        return handles.new("backend", "Backend", Backend.from_name(name))
    except BackendError as exc:
        raise registry.open_error("NOT_FOUND") from exc


@impl("backend", "Backend.get_name")
def get_name(self: object) -> str:
    return _backend(self).name()


@impl("backend", "Backend.is_dynamic")
def is_dynamic(self: object) -> bool:
    return _backend(self).is_dynamic()


@impl("backend", "Backend.is_healthy")
def is_healthy(self: object) -> Any:
    health = registry.wit("backend").BackendHealth
    return getattr(health, _backend(self).is_healthy().name.upper())


@impl("backend", "Backend.get_host")
def get_host(self: object, max_len: int) -> str:
    return fit(_backend(self).get_host(), max_len)


@impl("backend", "Backend.get_override_host")
def get_override_host(self: object, max_len: int) -> bytes | None:
    host = _backend(self).get_host_override()
    return None if host is None else fit_bytes(host.encode(), max_len)


@impl("backend", "Backend.get_port")
def get_port(self: object) -> int:
    return _backend(self).get_port()


@impl("backend", "Backend.is_tls")
def is_tls(self: object) -> bool:
    return _backend(self).is_ssl()


def _timeout(value: Any) -> int:
    if value is None:
        raise registry.error("Unsupported")  # not set: Compute's defaults are not modelled
    return int(value.total_seconds() * 1000)


@impl("backend", "Backend.get_connect_timeout_ms")
def get_connect_timeout_ms(self: object) -> int:
    return _timeout(_backend(self).get_connect_timeout())


@impl("backend", "Backend.get_first_byte_timeout_ms")
def get_first_byte_timeout_ms(self: object) -> int:
    return _timeout(_backend(self).get_first_byte_timeout())


@impl("backend", "Backend.get_between_bytes_timeout_ms")
def get_between_bytes_timeout_ms(self: object) -> int:
    return _timeout(_backend(self).get_between_bytes_timeout())


@impl("backend", "Backend.get_tls_min_version")
@impl("backend", "Backend.get_tls_max_version")
def get_tls_version(self: object) -> None:
    _backend(self)


@impl("backend", "Backend.__exit__")
def backend_exit(self: object, *args: object) -> None:
    """Nothing to release locally."""


# -- dynamic backends ----------------------------------------------------------------------
@impl("backend", "DynamicBackendOptions.__init__")
def options_init(self: Any) -> None:
    self._emu = DynamicOptions()


def _option(name: str) -> Any:
    def set_option(self: Any, *values: Any) -> None:
        options: DynamicOptions = handles.emu(self, DynamicOptions)
        options.values[name] = values[0] if len(values) == 1 else values

    set_option.__name__ = name
    return set_option


_OPTIONS = [
    "override_host",
    "connect_timeout",
    "first_byte_timeout",
    "between_bytes_timeout",
    "use_tls",
    "tls_min_version",
    "tls_max_version",
    "cert_hostname",
    "ca_certificate",
    "tls_ciphers",
    "sni_hostname",
    "client_cert",
    "http_keepalive_time_ms",
    "tcp_keepalive_enable",
    "tcp_keepalive_interval_secs",
    "tcp_keepalive_probes",
    "tcp_keepalive_time_secs",
    "max_connections",
    "max_use",
    "max_lifetime_ms",
    "pooling",
    "grpc",
    "prefer_ipv6",
]
for _name in _OPTIONS:
    impl("backend", f"DynamicBackendOptions.{_name}")(_option(_name))
impl("backend", "DynamicBackendOptions.__exit__")(backend_exit)


@impl("backend", "register_dynamic_backend")
def register_dynamic_backend(prefix: str, target: str, options: object) -> Any:
    values = handles.emu(options, DynamicOptions).values
    if "client_cert" in values:
        raise registry.error("Unsupported")  # client certificates for dynamic backends
    try:
        builder = BackendBuilder(prefix, target)
        if values.get("use_tls"):
            builder.enable_ssl()
        if "override_host" in values:
            builder.override_host(values["override_host"])
        for key in ("connect_timeout", "first_byte_timeout", "between_bytes_timeout"):
            if key in values:
                getattr(builder, key)(values[key] / 1000)
        if "cert_hostname" in values:
            builder.check_certificate(values["cert_hostname"])
        if "sni_hostname" in values:
            builder.sni_hostname(values["sni_hostname"])
        if "ca_certificate" in values:
            builder.ca_certificate(values["ca_certificate"])
        backend = builder.finish()
    except BackendCreationError as exc:
        raise registry.error("InvalidArgument") from exc
    except ValueError as exc:
        raise registry.error("InvalidArgument") from exc
    return handles.new("backend", "Backend", backend)
