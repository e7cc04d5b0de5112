"""The parsed, validated fastly.toml: immutable dataclasses, no I/O except ``Manifest.env()``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from compute_emu.errors import ManifestError

from .files import ENV_FILE_MAX_BYTES, read_file

#: Latest ``manifest_version`` understood (same as the Fastly CLI and Viceroy).
LATEST_MANIFEST_VERSION = 3

#: Valid values of ``[local_server.backends.NAME] health``.
HEALTH_VALUES = ("unknown", "healthy", "unhealthy")


@dataclass(frozen=True)
class ClientCertificate:
    """A backend's mTLS client identity (PEM texts)."""

    certificate: str
    key: str


@dataclass(frozen=True)
class BackendConfig:
    """One ``[local_server.backends.NAME]`` entry, validated."""

    name: str
    url: str
    scheme: str
    host: str
    port: int
    path_prefix: str
    override_host: str | None = None
    cert_host: str | None = None
    use_sni: bool = True
    grpc: bool = False
    client_certificate: ClientCertificate | None = None
    ca_certificates: tuple[str, ...] = ()
    first_byte_timeout_ms: int | None = None
    between_bytes_timeout_ms: int | None = None
    health: str = "unknown"
    connect_timeout_ms: int | None = None  # dynamic backends only (Backend.builder)

    @property
    def authority(self) -> str:
        """``host:port``, with an IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class PushpinConfig:
    """``[local_server.pushpin]``: flags override these later; ``None`` means unset."""

    enable: bool = False
    pushpin_path: str | None = None
    proxy_port: int | None = None
    publish_port: int | None = None
    sig_iss: str | None = None
    sig_key: str | None = None


@dataclass(frozen=True)
class Scripts:
    """``[scripts]``: the build command, its environment and the app entry file."""

    build: str | None = None
    env_vars: tuple[str, ...] = ()
    env_file: Path | None = None
    entry: Path | None = None


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Manifest:
    """A validated fastly.toml. Unknown sections are kept raw in ``local_server``."""

    path: Path
    project_dir: Path
    manifest_version: int = LATEST_MANIFEST_VERSION
    name: str = ""
    description: str = ""
    authors: tuple[str, ...] = ()
    language: str = ""
    scripts: Scripts = field(default_factory=Scripts)
    backends: Mapping[str, BackendConfig] = field(default_factory=_empty_mapping)
    pushpin: PushpinConfig = field(default_factory=PushpinConfig)
    local_server: Mapping[str, Any] = field(default_factory=_empty_mapping)
    warnings: tuple[str, ...] = ()
    #: ``scripts.env_file`` position in the manifest, for errors raised by ``env()``.
    _env_file_pos: tuple[int | None, int | None] = field(
        default=(None, None), repr=False, compare=False
    )

    def env(self) -> dict[str, str]:
        """Build environment: ``scripts.env_vars``, then the ``scripts.env_file`` lines.

        Raises ``ManifestError`` if the env file is missing or has a malformed line.
        """
        result: dict[str, str] = {}
        for item in self.scripts.env_vars:
            key, _, value = item.partition("=")
            result[key] = value
        if self.scripts.env_file is not None:
            result.update(self._read_env_file(self.scripts.env_file))
        return result

    def _read_env_file(self, env_file: Path) -> dict[str, str]:
        try:
            text = read_file(env_file, ENV_FILE_MAX_BYTES, "env files").decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            line, column = self._env_file_pos
            raise ManifestError(
                str(self.path),
                "scripts.env_file",
                f'cannot read env file "{env_file}": {reason}',
                line=line,
                column=column,
            ) from None
        return parse_env_file(text, env_file)


_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def parse_env_file(text: str, path: Path | str) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines (``#`` comments, blank lines and an ``export `` prefix allowed).

    A value wrapped in matching single or double quotes is unquoted; nothing else is interpreted.
    """
    result: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_KEY.fullmatch(key):
            raise ManifestError(
                os.fspath(path),
                "",
                f"expected KEY=VALUE, got {raw.strip()!r}",
                line=lineno,
                column=1,
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        result[key] = value
    return result
