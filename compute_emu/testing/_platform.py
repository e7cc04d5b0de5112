"""What an Emulator reads and changes besides requests: its stores and its cache."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from ..platform import KVStore
from ..serve import Server


class PlatformAccess:
    """The stores the app sees (seeded by the Emulator's overrides, read back here) and the
    cache (purged and aged through compute-emu's own ``/.compute-emu/`` endpoints)."""

    @property
    def server(self) -> Server:
        raise NotImplementedError

    @property
    def client(self) -> httpx.Client:
        raise NotImplementedError

    # -- stores ------------------------------------------------------------------------------
    def kv(self, name: str) -> KVStore:
        """The KV store ``name`` the app sees (``lookup``, ``insert``, ``keys``, ...)."""
        stores = self.server.platform.kv_stores
        if name not in stores:
            known = ", ".join(sorted(stores)) or "none"
            raise KeyError(f"no KV store {name!r} (known: {known})")
        return stores[name]

    def kv_get(self, store: str, key: str) -> bytes | None:
        """The value of ``key`` in KV store ``store`` now, or None."""
        entry = self.kv(store).lookup(key)
        return None if entry is None else entry.body

    def kv_items(self, store: str) -> dict[str, bytes]:
        """Every key of KV store ``store`` with its value."""
        names = self.kv(store).keys()
        return {key: value for key in names if (value := self.kv_get(store, key)) is not None}

    def config_store(self, name: str) -> Mapping[str, str]:
        """The items of config store ``name``."""
        return self.server.platform.config_stores[name].load()

    def secret(self, store: str, name: str) -> bytes | None:
        """A secret's plaintext, or None."""
        return self.server.platform.secret_stores[store].get(name)

    # -- the cache ---------------------------------------------------------------------------
    def _cache_admin(self, path: str, query: list[tuple[str, str]]) -> dict[str, Any]:
        url = f"/.compute-emu/{path}?{urlencode(query)}"
        response = self.client.post(url)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200 or not isinstance(answer, dict):
            raise RuntimeError(
                f"POST /.compute-emu/{path} answered {response.status_code}: "
                f"{response.text[:200]!r} (this compute-emu has no cache to administer?)"
            )
        return answer

    def purge(self, *keys: str, soft: bool = False) -> int:
        """Purge the cache: the objects tagged with these surrogate keys, or everything (no
        keys), as `compute-emu purge` does; ``soft`` marks them stale. How many objects."""
        query = [("key", key) for key in keys] or [("all", "1")]
        if soft:
            query.append(("soft", "1"))
        return int(self._cache_admin("purge", query)["purged"])

    def advance_clock(self, seconds: float) -> None:
        """Move the cache's clock on: TTLs expire without sleeping."""
        self._cache_admin("cache-clock", [("advance", str(seconds))])
