"""The Compute platform's local data: stores and lookups from `[local_server]` (no sockets).

``Platform.from_manifest(manifest, kv_persist_dir=None)`` validates ``config_stores``
(``dictionaries``), ``kv_stores`` (``object_stores``, ``object_store``), ``secret_stores``,
``geolocation``, ``device_detection`` and ``acls`` with Viceroy's rules and formats, reads their
files once at start-up (JSON config stores are re-read on each open and geolocation/device JSON
on each lookup, as Viceroy does) and raises a one-line ``ManifestError`` naming the manifest, the
key path, the line and any resolved file path. The SDK (``compute_emu.sdk``) reaches it only
through its host interface, which the native host implements over it
(``compute_emu/runtime/platform_calls.py``).
"""

from ._platform import Platform
from .acl import Acl, AclEntry, parse_prefix
from .config_store import KEY_MAX_CHARS, VALUE_MAX_CHARS, ConfigStoreConfig
from .kv_store import DEFAULT_LIST_LIMIT, INSERT_MODES, InsertMode, KVEntry, KVError, KVStore
from .kv_store import key_problem as kv_key_problem
from .lookups import (
    DEFAULT_LOOPBACK_RECORD,
    DeviceDetection,
    Geolocation,
    is_loopback,
    parse_ip,
)
from .secret_store import SecretStore
from .secret_store import name_problem as secret_name_problem

__all__ = [
    "DEFAULT_LIST_LIMIT",
    "DEFAULT_LOOPBACK_RECORD",
    "INSERT_MODES",
    "KEY_MAX_CHARS",
    "VALUE_MAX_CHARS",
    "Acl",
    "AclEntry",
    "ConfigStoreConfig",
    "DeviceDetection",
    "Geolocation",
    "InsertMode",
    "KVEntry",
    "KVError",
    "KVStore",
    "Platform",
    "SecretStore",
    "is_loopback",
    "kv_key_problem",
    "parse_ip",
    "parse_prefix",
    "secret_name_problem",
]
