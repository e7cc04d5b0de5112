"""The native host's stores, lookups, edge rate limiting and instance facts: the SDK's host
interface over the server's :class:`~compute_emu.platform.Platform`.

:class:`PlatformCalls` is mixed into the request's host; what it needs from that host is
stated by :class:`PlatformHost`. Platform errors become ``HostError`` kinds (the SDK turns
them into its Rust-named variants); a store that is not there is ``None``, and for KV stores,
whose ``open`` does not fail, the host says which stores there are on the app's stderr (the
request's output), as the warning of that very call.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from ..errors import ManifestError
from ..platform.acl import Acl
from ..platform.erl import ErlArgumentError
from ..platform.kv_store import KVError
from ..platform.kv_store import KVStore as KVEngine
from ..platform.secret_store import SecretStore
from ..sdk._host import cpu_seconds
from ..sdk._interface import (
    AclMatch,
    Handle,
    HostError,
    IpAddress,
    KvEntry,
    KvInsert,
    KvPage,
    StoreKind,
)
from .cache_calls import CacheCalls, CacheServices, LoopCalls

if TYPE_CHECKING:
    from ..platform import Platform

T = TypeVar("T")

_KV_KINDS = {
    "invalid_key": "invalid_key",
    "precondition_failed": "precondition_failed",
    "bad_request": "invalid_argument",
}
_ACL_ACTIONS: dict[str, Literal["ALLOW", "BLOCK"]] = {"ALLOW": "ALLOW", "BLOCK": "BLOCK"}
_MIB = 1 << 20


class PlatformServices(CacheServices, Protocol):
    """What the platform calls read of the server's services."""

    @property
    def platform(self) -> Platform: ...


class PlatformHost(Protocol):
    """What :class:`PlatformCalls` needs from the host it is mixed into: the server's services,
    the request's id, and a way to run a coroutine on the loop and wait for it."""

    @property
    def services(self) -> PlatformServices: ...

    @property
    def request_id(self) -> int: ...

    @property
    def calls(self) -> LoopCalls: ...


class PlatformCalls(CacheCalls):
    """Stores, lookups, ERL, purge, the Core cache and the instance's facts, for one request
    (see :class:`PlatformHost` for what the host provides)."""

    services: PlatformServices
    request_id: int

    @property
    def _platform(self) -> Platform:
        return self.services.platform

    # -- KV stores ---------------------------------------------------------------------------
    def kv_open(self, name: str) -> Handle | None:
        stores = self._platform.kv_stores
        store = stores.get(name)
        if store is None:  # None, as in Rust: say why now, not at the next call on None
            known = ", ".join(f'"{n}"' for n in sorted(stores)) or "none"
            print(
                f'warning: KVStore.open("{name}"): no such KV store (known KV stores: {known}; '
                "define it under [local_server.kv_stores] in fastly.toml)",
                file=sys.stderr,
            )
        return store

    def kv_lookup(self, store: Handle, key: str) -> KvEntry | None:
        with _kv_errors():
            entry = _kv(store).lookup(key)
        return None if entry is None else KvEntry(entry.body, entry.metadata, entry.generation)

    def kv_insert(self, store: Handle, key: str, value: bytes, options: KvInsert) -> None:
        with _kv_errors():
            _kv(store).insert(
                key,
                value,
                metadata=options.metadata,
                mode=options.mode,
                if_generation_match=options.if_generation_match,
                ttl=options.ttl,
            )

    def kv_delete(self, store: Handle, key: str) -> bool:
        with _kv_errors():
            return _kv(store).delete(key)

    def kv_list(
        self, store: Handle, prefix: str | None, cursor: str | None, limit: int | None
    ) -> KvPage:
        with _kv_errors():
            keys, next_cursor = _kv(store).list(prefix, cursor, limit)
        return KvPage(tuple(keys), next_cursor)

    # -- config and secret stores, ACLs --------------------------------------------------------
    def config_store_open(self, name: str) -> Handle | None:
        config = self._platform.config_stores.get(name)
        if config is None:
            return None
        with _file_errors():  # a JSON file is read on every open (Viceroy), so it may break
            return ConfigItems(config.load())

    def config_store_get(self, store: Handle, key: str) -> str | None:
        return _as(store, ConfigItems, "config store").items.get(key)

    def secret_store_open(self, name: str) -> Handle | None:
        return self._platform.secret_stores.get(name)

    def secret_store_get(self, store: Handle, name: str) -> bytes | None:
        return _as(store, SecretStore, "secret store").get(name)

    def acl_open(self, name: str) -> Handle | None:
        return self._platform.acls.get(name)

    def acl_lookup(self, acl: Handle, ip: IpAddress) -> AclMatch | None:
        table = _as(acl, Acl, "ACL")
        entry = table.lookup(ip)
        if entry is None:
            return None
        action = _ACL_ACTIONS.get(entry.action)
        if action is not None:
            return AclMatch(entry.prefix, action)
        raise HostError(  # Viceroy accepts any action; the Rust SDK cannot decode others
            "unexpected",
            f'ACL "{table.name}": the entry {entry.prefix} has action {entry.action!r}, '
            "neither ALLOW nor BLOCK",
        )

    def store_names(self, kind: StoreKind) -> tuple[str, ...] | None:
        platform = self._platform
        stores: Mapping[str, object] = {
            "kv": platform.kv_stores,
            "config": platform.config_stores,
            "secret": platform.secret_stores,
            "acl": platform.acls,
        }[kind]
        return tuple(sorted(stores))

    # -- lookups about the client ------------------------------------------------------------
    def geo_lookup(self, ip: IpAddress) -> dict[str, object] | None:
        with _file_errors():  # a JSON file is read on every lookup (Viceroy), so it may break
            record = self._platform.geolocation.lookup(ip)
        return None if record is None else dict(record)

    def device_lookup(self, user_agent: str) -> dict[str, object] | None:
        with _file_errors():
            record = self._platform.device_detection.lookup(user_agent)
        return None if record is None else dict(record)

    def fastly_key_is_valid(self, key: str | None) -> bool:
        return key is not None and key in self._platform.fake_valid_fastly_keys

    # -- edge rate limiting ------------------------------------------------------------------
    def erl_increment(self, counter: str, entry: str, delta: int) -> None:
        with _erl_errors():
            self._platform.erl.increment(counter, entry, delta)

    def erl_rate(self, counter: str, entry: str, window: int) -> int:
        with _erl_errors():
            return self._platform.erl.rate(counter, entry, window)

    def erl_count(self, counter: str, entry: str, duration: int) -> int:
        with _erl_errors():
            return self._platform.erl.count(counter, entry, duration)

    def penaltybox_add(self, box: str, entry: str, ttl: float) -> None:
        with _erl_errors():
            self._platform.erl.penalize(box, entry, ttl)

    def penaltybox_has(self, box: str, entry: str) -> bool:
        return self._platform.erl.in_box(box, entry)

    def erl_check_rate(
        self,
        counter: str,
        entry: str,
        delta: int,
        window: int,
        limit: int,
        box: str,
        ttl: float,
    ) -> bool:
        with _erl_errors():
            return self._platform.erl.check_rate(counter, box, entry, delta, window, limit, ttl)

    # -- the instance ------------------------------------------------------------------------
    def vcpu_ms(self) -> int:
        """CPU time of the app's thread since ``main()``'s host was bound (I/O waits and the
        event loop's work excluded)."""
        return int(cpu_seconds() * 1000)

    def heap_mib(self) -> int:
        """The resident memory of the whole process (one process serves every request)."""
        try:
            with open("/proc/self/statm", "rb") as f:
                pages = int(f.read().split()[1])
            used = pages * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            import resource

            used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak, in KiB
        return max(1, math.ceil(used / _MIB))

    def sandbox_id(self) -> str:
        """The request's trace id (``FASTLY_TRACE_ID``): 32 hex digits."""
        return f"{self.request_id:032x}"


def _as(handle: Handle, kind: type[T], what: str) -> T:
    """``handle`` as the ``kind`` this host made it, or ``invalid_argument``."""
    if not isinstance(handle, kind):
        raise HostError("invalid_argument", f"not a {what}: {type(handle).__name__}")
    return handle


def _kv(handle: Handle) -> KVEngine:
    return _as(handle, KVEngine, "KV store")


@contextlib.contextmanager
def _kv_errors() -> Iterator[None]:
    try:
        yield
    except KVError as exc:
        raise HostError(_KV_KINDS.get(exc.kind, "unexpected"), str(exc)) from None


@contextlib.contextmanager
def _erl_errors() -> Iterator[None]:
    try:
        yield
    except ErlArgumentError as exc:
        raise HostError("invalid_argument", str(exc)) from None


@contextlib.contextmanager
def _file_errors() -> Iterator[None]:
    """A store's or lookup's file that broke since start-up: ``unexpected``, naming it."""
    try:
        yield
    except ManifestError as exc:
        raise HostError("unexpected", str(exc)) from None


@dataclass(frozen=True)
class ConfigItems:
    """An open config store: its items as they were when it was opened."""

    items: Mapping[str, str]
