"""The Wasm host's backends: fastly.toml's and the ones a request registers, through the
``backend`` import (``backend.open``, its getters, ``register-dynamic-backend``). A base class
of :class:`~._wit_host.WitHost`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wit_world.imports import backend as wit_backend  # type: ignore[import-not-found]

from ._interface import BackendInfo
from ._wit_calls import calling, err_of, sized
from ._wit_services import opened


class WitBackends:
    """``backend()`` and ``register_backend()``, and the backend resources opened so far."""

    _backends: dict[str, Any]  # backend resources by name

    def _open_backend(self, name: str) -> Any:
        """The ``backend`` resource named ``name``, or ``None`` if there is none."""
        found = self._backends.get(name)
        if found is None:
            found = opened(wit_backend.Backend.open, name, "backend.open")
            if found is not None:
                self._backends[name] = found
        return found

    def backend(self, name: str) -> BackendInfo | None:
        found = self._open_backend(name)
        if found is None:
            return None
        with calling("backend"):
            port, tls, dynamic = int(found.get_port()), bool(found.is_tls()), found.is_dynamic()
            health = found.is_healthy().name.lower()
        override = sized(found.get_override_host, "backend.get-override-host")
        return BackendInfo(
            name=name,
            host=sized(found.get_host, "backend.get-host"),
            port=port,
            use_ssl=tls,
            override_host=None if override is None else bytes(override).decode("latin-1"),
            connect_timeout_ms=_optional(found.get_connect_timeout_ms),
            first_byte_timeout_ms=_optional(found.get_first_byte_timeout_ms),
            between_bytes_timeout_ms=_optional(found.get_between_bytes_timeout_ms),
            health=health,
            dynamic=bool(dynamic),
        )

    def register_backend(self, backend: BackendInfo) -> bool:
        if self._open_backend(backend.name) is not None:
            return False
        host = f"[{backend.host}]" if ":" in backend.host else backend.host
        with calling("backend.register-dynamic-backend"):
            options = dynamic_options(backend)
            registered = wit_backend.register_dynamic_backend(
                backend.name, f"{host}:{backend.port}", options
            )
        self._backends[backend.name] = registered
        return True


def _optional(get: Callable[[], int]) -> int | None:
    """A getter's answer, or ``None`` when the host has none (``unsupported``)."""
    try:
        return int(get())
    except Exception as exc:
        if err_of(exc) is None:
            raise
        return None


# BackendInfo.options names -> the dynamic-backend-options setter they go to
_OPTION_SETTERS = {
    "http_keepalive_ms": "http_keepalive_time_ms",
    "tcp_keepalive": "tcp_keepalive_enable",
    "tcp_interval": "tcp_keepalive_interval_secs",
    "tcp_probes": "tcp_keepalive_probes",
    "tcp_time": "tcp_keepalive_time_secs",
    "max_connections": "max_connections",
    "max_use": "max_use",
    "max_lifetime_ms": "max_lifetime_ms",
    "pooling": "pooling",
    "grpc": "grpc",
    "prefer_ipv6": "prefer_ipv6",
    "ciphers": "tls_ciphers",
}


def dynamic_options(backend: BackendInfo) -> Any:
    """The ``dynamic-backend-options`` of a backend the app registers."""
    options = wit_backend.DynamicBackendOptions()
    options.use_tls(backend.use_ssl)
    if backend.override_host is not None:
        options.override_host(backend.override_host)
    for setter, value in (
        (options.connect_timeout, backend.connect_timeout_ms),
        (options.first_byte_timeout, backend.first_byte_timeout_ms),
        (options.between_bytes_timeout, backend.between_bytes_timeout_ms),
    ):
        if value is not None:
            setter(int(value))
    if backend.cert_host is not None:
        options.cert_hostname(backend.cert_host)
    if backend.sni_hostname is not None:
        options.sni_hostname(backend.sni_hostname)
    for pem in backend.ca_certificates:
        options.ca_certificate(pem)
    for name, option in backend.options:
        setter_name = _OPTION_SETTERS.get(name)
        if setter_name is not None and isinstance(option, bool | int | str):
            getattr(options, setter_name)(option)
    return options
