"""``config-store``, ``dictionary``, ``secret-store`` and ``kv-store`` over fastly.toml's stores,
through the ``compute_emu.sdk`` store classes (the same validation and the same data).

The ``*-async`` KV calls run at once; their ``await-*`` hands over the result.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..sdk._body import Body
from ..sdk.config_store import ConfigStore, ConfigStoreError
from ..sdk.kv_store import InsertMode, KVStore, KVStoreError, LookupResponse
from ..sdk.secret_store import Secret, SecretStore, SecretStoreError
from . import handles, registry
from .messages import fit, fit_bytes
from .registry import impl


def _open_failed(exc: Exception, what: str, name: str) -> Exception:
    """The WIT's open error for a failed ``open``; a store that does not exist is also said in
    the log with the stores there are (as ``compute_emu.sdk``'s ``KVStore.open`` does)."""
    kind = type(exc).__name__
    if "Long" in kind:
        return registry.open_error("NAME_TOO_LONG")
    if "Invalid" in kind or "Empty" in kind:
        return registry.open_error("INVALID_SYNTAX")
    print(f'warning: {what}("{name}"): {exc}', file=sys.stderr)
    return registry.open_error("NOT_FOUND")


# -- config-store and dictionary -----------------------------------------------------------
def _config_open(cls: type, name: str) -> Any:
    module = "config_store" if cls.__name__ == "Store" else "dictionary"
    try:
        store = ConfigStore.open(name)
    except ConfigStoreError as exc:
        raise _open_failed(exc, f"{module}.{cls.__name__}.open", name) from exc
    return handles.new(module, cls.__name__, store)


def _config_get(self: object, key: str, max_len: int) -> str | None:
    store: ConfigStore = handles.emu(self, ConfigStore)
    try:
        value = store.get(key)
    except ConfigStoreError as exc:
        raise registry.error("InvalidArgument") from exc
    return None if value is None else fit(value, max_len)


def _exit(self: object, *args: object) -> None:
    """Nothing to release locally."""


impl("config_store", "Store.open")(_config_open)
impl("config_store", "Store.get")(_config_get)
impl("config_store", "Store.__exit__")(_exit)
impl("dictionary", "Dictionary.open")(_config_open)
impl("dictionary", "Dictionary.lookup")(_config_get)
impl("dictionary", "Dictionary.__exit__")(_exit)


# -- secret-store --------------------------------------------------------------------------
@impl("secret_store", "Store.open")
def secret_store_open(cls: type, name: str) -> Any:
    try:
        return handles.new("secret_store", "Store", SecretStore.open(name))
    except SecretStoreError as exc:
        raise _open_failed(exc, "secret_store.Store.open", name) from exc


@impl("secret_store", "Store.get")
def secret_store_get(self: object, key: str) -> Any:
    store: SecretStore = handles.emu(self, SecretStore)
    try:
        secret = store.get(key)
    except SecretStoreError as exc:
        raise registry.error("InvalidArgument") from exc
    return None if secret is None else handles.new("secret_store", "Secret", secret)


@impl("secret_store", "Secret.from_bytes")
def secret_from_bytes(cls: type, bytes: bytes) -> Any:
    return handles.new("secret_store", "Secret", Secret.from_bytes(bytes))


@impl("secret_store", "Secret.plaintext")
def secret_plaintext(self: object, max_len: int) -> bytes:
    secret: Secret = handles.emu(self, Secret)
    return fit_bytes(secret.plaintext(), max_len)


impl("secret_store", "Store.__exit__")(_exit)
impl("secret_store", "Secret.__exit__")(_exit)


# -- kv-store ------------------------------------------------------------------------------
_KV_ERRORS = {
    "InvalidKey": "KvError_BadRequest",
    "ItemBadRequest": "KvError_BadRequest",
    "ItemPreconditionFailed": "KvError_PreconditionFailed",
}


def _kv_error(exc: KVStoreError) -> Exception:
    name = _KV_ERRORS.get(type(exc).__name__, "KvError_InternalError")
    return registry.err(getattr(registry.wit("kv_store"), name)())


def _kv(handle: object) -> KVStore:
    store: KVStore = handles.emu(handle, KVStore)
    return store


@impl("kv_store", "Store.open")
def kv_open(cls: type, name: str) -> Any:
    if not isinstance(name, str) or not name:
        raise registry.open_error("INVALID_SYNTAX")
    store = KVStore.open(name)
    if store is None:
        raise registry.open_error("NOT_FOUND")
    return handles.new("kv_store", "Store", store)


@impl("kv_store", "Store.lookup")
def kv_lookup(self: object, key: str) -> Any:
    try:
        found = _kv(self).lookup(key)
    except KVStoreError.ItemNotFound:
        return None
    except KVStoreError as exc:
        raise _kv_error(exc) from exc
    return handles.new("kv_store", "Entry", found)


@impl("kv_store", "Entry.take_body")
def entry_take_body(self: object) -> Any:
    entry: LookupResponse = handles.emu(self, LookupResponse)
    body = entry.try_take_body()
    return None if body is None else handles.new_body(body)


@impl("kv_store", "Entry.metadata")
def entry_metadata(self: object, max_len: int) -> str | None:
    entry: LookupResponse = handles.emu(self, LookupResponse)
    metadata = entry.metadata_str()
    return None if metadata is None else fit(metadata, max_len)


@impl("kv_store", "Entry.generation")
def entry_generation(self: object) -> int:
    entry: LookupResponse = handles.emu(self, LookupResponse)
    return entry.current_generation()


@impl("kv_store", "Store.insert")
def kv_insert(self: object, key: str, body: object, options: Any) -> None:
    builder = _kv(self).build_insert().mode(InsertMode[options.mode.name.capitalize()])
    if options.metadata is not None:
        builder.metadata(options.metadata)
    if options.if_generation_match is not None:
        builder.if_generation_match(options.if_generation_match)
    if options.time_to_live_sec is not None:
        builder.time_to_live(options.time_to_live_sec)
    try:
        builder.execute(key, handles.body_of(body).take())
    except KVStoreError as exc:
        raise _kv_error(exc) from exc


@impl("kv_store", "Store.delete")
def kv_delete(self: object, key: str) -> bool:
    try:
        _kv(self).delete(key)
    except KVStoreError.ItemNotFound:
        return False
    except KVStoreError as exc:
        raise _kv_error(exc) from exc
    return True


@impl("kv_store", "Store.list")
def kv_list(self: object, options: Any) -> Any:
    builder = _kv(self).build_list()
    if options.prefix is not None:
        builder.prefix(options.prefix)
    if options.cursor is not None:
        builder.cursor(options.cursor)
    if options.limit is not None:
        builder.limit(options.limit)
    try:
        page = builder.execute()
    except KVStoreError as exc:
        raise _kv_error(exc) from exc
    meta: dict[str, Any] = {"limit": page.limit()}
    if page.next_cursor() is not None:
        meta["next_cursor"] = page.next_cursor()
    if page.prefix() is not None:
        meta["prefix"] = page.prefix()
    return handles.new_body(Body(json.dumps({"data": page.keys(), "meta": meta}).encode()))


impl("kv_store", "Store.__exit__")(_exit)
impl("kv_store", "Entry.__exit__")(_exit)


@dataclass
class _Done:
    """A KV ``*-async`` call, already carried out: its result or its error."""

    call: Callable[[], Any]

    def result(self) -> Any:
        return self.call()


def _async(sync: Callable[..., Any]) -> Callable[..., Any]:
    def start(self: object, *args: Any) -> Any:
        try:
            value = sync(self, *args)
        except Exception as exc:
            error = exc

            def fail() -> Any:
                raise error

            return handles.pollable(_Done(fail))
        return handles.pollable(_Done(lambda: value))

    return start


def _await(handle: object) -> Any:
    done: _Done = handles.emu(handle, _Done)
    return done.result()


for _sync, _name in ((kv_lookup, "lookup"), (kv_insert, "insert"), (kv_delete, "delete")):
    impl("kv_store", f"Store.{_name}_async")(_async(_sync))
    impl("kv_store", f"await_{_name}")(_await)
impl("kv_store", "Store.list_async")(_async(kv_list))
impl("kv_store", "await_list")(_await)
