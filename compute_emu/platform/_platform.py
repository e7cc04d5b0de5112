"""``Platform``: every store and lookup of one server, built once from the manifest."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from compute_emu.manifest.model import Manifest

from ._common import Section
from .acl import Acl, parse_acls
from .config_store import ConfigStoreConfig, parse_config_stores
from .erl import RateLimits
from .kv_config import parse_kv_stores
from .kv_store import KVStore
from .lookups import DeviceDetection, Geolocation, parse_device_detection, parse_geolocation
from .secret_store import SecretStore, parse_secret_stores


class Platform:
    """The Compute platform's local data for one server, shared by every request.

    Build it with :meth:`from_manifest` (validates every section, reads the files, raises a
    one-line ``ManifestError`` for the first problem) or :meth:`empty`. Attributes:

    - ``config_stores``: name to :class:`ConfigStoreConfig` (``load()`` gives the items);
    - ``kv_stores``: name to :class:`KVStore` (thread-safe, in memory or persisted);
    - ``secret_stores``: name to :class:`SecretStore`;
    - ``geolocation``: :class:`Geolocation`; ``device_detection``: :class:`DeviceDetection`;
    - ``acls``: name to :class:`Acl`;
    - ``warnings``: one-line notes for the user (a missing secret environment variable, ...);
    - ``kv_persist_dir``: where KV writes are kept across restarts, or ``None``;
    - ``erl``: :class:`RateLimits`, the rate counters and penalty boxes (in memory);
    - ``fake_valid_fastly_keys``: ``[local_server] fake_valid_fastly_keys`` (for
      ``Request.fastly_key_is_valid()``).
    """

    def __init__(
        self,
        *,
        config_stores: Mapping[str, ConfigStoreConfig] | None = None,
        kv_stores: Mapping[str, KVStore] | None = None,
        secret_stores: Mapping[str, SecretStore] | None = None,
        geolocation: Geolocation | None = None,
        device_detection: DeviceDetection | None = None,
        acls: Mapping[str, Acl] | None = None,
        warnings: list[str] | None = None,
        kv_persist_dir: Path | None = None,
        erl: RateLimits | None = None,
        fake_valid_fastly_keys: frozenset[str] = frozenset(),
    ) -> None:
        self.config_stores: Mapping[str, ConfigStoreConfig] = MappingProxyType(
            dict(config_stores or {})
        )
        self.kv_stores: Mapping[str, KVStore] = MappingProxyType(dict(kv_stores or {}))
        self.secret_stores: Mapping[str, SecretStore] = MappingProxyType(dict(secret_stores or {}))
        self.geolocation = geolocation or Geolocation()
        self.device_detection = device_detection or DeviceDetection()
        self.acls: Mapping[str, Acl] = MappingProxyType(dict(acls or {}))
        self.warnings: list[str] = list(warnings or [])
        self.kv_persist_dir = kv_persist_dir
        self.erl = erl or RateLimits()
        self.fake_valid_fastly_keys = fake_valid_fastly_keys

    @classmethod
    def empty(cls) -> Platform:
        """No stores; the default loopback geolocation record only."""
        return cls()

    @classmethod
    def from_manifest(
        cls,
        manifest: Manifest,
        kv_persist_dir: Path | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Platform:
        """Validate ``manifest.local_server`` and load every store.

        ``environ`` (default ``os.environ``) supplies secret ``env`` entries. With
        ``kv_persist_dir`` KV writes are kept on disk (see ``compute_emu.platform.kv_store``).
        """
        section = Section(manifest)
        local: Mapping[str, Any] = manifest.local_server
        config_stores = parse_config_stores(section, local)
        kv_seeds = parse_kv_stores(section, local)
        secret_stores = parse_secret_stores(
            section, local, os.environ if environ is None else environ
        )
        geolocation = parse_geolocation(section, local)
        device_detection = parse_device_detection(section, local)
        acls = parse_acls(section, local)
        keys = local.get("fake_valid_fastly_keys", [])
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            section.fail(("local_server", "fake_valid_fastly_keys"), "must be an array of strings")
        persist = Path(kv_persist_dir) if kv_persist_dir is not None else None
        kv_stores = {name: KVStore(name, seed, persist) for name, seed in kv_seeds.items()}
        warnings = list(section.warnings)
        for store in kv_stores.values():
            warnings.extend(store.warnings)
        return cls(
            config_stores=config_stores,
            kv_stores=kv_stores,
            secret_stores=secret_stores,
            geolocation=geolocation,
            device_detection=device_detection,
            acls=acls,
            warnings=warnings,
            kv_persist_dir=persist,
            fake_valid_fastly_keys=frozenset(keys),
        )

    def __repr__(self) -> str:
        def names(mapping: Mapping[str, Any]) -> list[str]:
            return sorted(mapping)

        return (
            f"Platform(config_stores={names(self.config_stores)}, "
            f"kv_stores={names(self.kv_stores)}, secret_stores={names(self.secret_stores)}, "
            f"acls={names(self.acls)}, kv_persist_dir={self.kv_persist_dir})"
        )
