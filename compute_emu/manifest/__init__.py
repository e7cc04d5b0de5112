"""fastly.toml: parse and validate the manifest (pure; no sockets, no processes)."""

from .loader import LOCAL_SERVER_KEYS, load_manifest, manifest_path, parse_manifest
from .locate import locate, render_key
from .model import (
    HEALTH_VALUES,
    LATEST_MANIFEST_VERSION,
    BackendConfig,
    ClientCertificate,
    Manifest,
    PushpinConfig,
    Scripts,
    parse_env_file,
)

__all__ = [
    "HEALTH_VALUES",
    "LATEST_MANIFEST_VERSION",
    "LOCAL_SERVER_KEYS",
    "BackendConfig",
    "ClientCertificate",
    "Manifest",
    "PushpinConfig",
    "Scripts",
    "load_manifest",
    "locate",
    "manifest_path",
    "parse_env_file",
    "parse_manifest",
    "render_key",
]
