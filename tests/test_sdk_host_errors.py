"""How the SDK turns each ``HostError`` kind of its host interface into its Rust-named error
variants, with the host's message: stores, lookups, ERL, the Core cache and purges, over a
fake host whose opens succeed and whose every other call fails with one kind."""

from __future__ import annotations

import ast
import ipaddress
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from compute_emu.sdk import (
    Acl,
    AclLookupError,
    AclOpenError,
    ConfigStore,
    ConfigStoreLookupError,
    ConfigStoreOpenError,
    KVStore,
    KVStoreError,
    SecretStore,
    SecretStoreLookupError,
    SecretStoreOpenError,
    device_lookup,
    geo_lookup,
)
from compute_emu.sdk import purge as sdk_purge
from compute_emu.sdk._host import bind_host
from compute_emu.sdk._interface import ERROR_KINDS, CachedObject, CacheState, HostError
from compute_emu.sdk.cache import core, simple
from compute_emu.sdk.erl import ERL, ERLError, Penaltybox, RateCounter

KINDS = sorted(ERROR_KINDS)


class FailingHost:
    """Opens give a handle; every other call raises ``HostError(kind, "<call> failed")``."""

    def __init__(self, kind: str, fail_opens: bool = False) -> None:
        self.kind = kind
        self.fail_opens = fail_opens

    def _open(self, name: str) -> object:
        if self.fail_opens:
            raise HostError(self.kind, f"open of {name} failed")
        return ("handle", name)

    kv_open = config_store_open = secret_store_open = acl_open = _open

    def store_names(self, kind: str) -> tuple[str, ...] | None:
        return None

    def cache_lookup(self, key: bytes, headers: object, transaction: bool) -> object:
        return ("lookup", key)

    def cache_state(self, lookup: object) -> CacheState:
        return CacheState(found=True, usable=True, stale=False, must_insert_or_update=True)

    def cache_object(self, lookup: object) -> CachedObject:
        return CachedObject(1.0, 60.0, 0.0, 1, None, b"", (), (), False)

    def cache_close(self, lookup: object) -> None:
        pass

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def fail(*args: object) -> Any:
            raise HostError(self.kind, f"{name} failed")

        return fail


@pytest.fixture
def bind() -> Iterator[Callable[..., FailingHost]]:
    stack: list[Any] = []

    def binder(kind: str, fail_opens: bool = False) -> FailingHost:
        host = FailingHost(kind, fail_opens)
        context = bind_host(host)  # type: ignore[arg-type]
        context.__enter__()
        stack.append(context)
        return host

    yield binder
    for context in reversed(stack):
        context.__exit__(None, None, None)


def raised(call: Callable[[], object]) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


KV_VARIANTS = {
    "not_found": KVStoreError.ItemNotFound,
    "invalid_argument": KVStoreError.ItemBadRequest,
    "invalid_key": KVStoreError.InvalidKey,
    "precondition_failed": KVStoreError.ItemPreconditionFailed,
}


@pytest.mark.parametrize("kind", KINDS)
def test_kv_store(kind: str, bind: Callable[..., FailingHost]) -> None:
    bind(kind)
    store = KVStore.open("s")
    assert store is not None
    expected = KV_VARIANTS.get(kind, KVStoreError.Unexpected)
    for call, name in [
        (lambda: store.lookup("k"), "kv_lookup"),
        (lambda: store.insert("k", b"v"), "kv_insert"),
        (lambda: store.delete("k"), "kv_delete"),
        (lambda: store.list(), "kv_list"),
    ]:
        error = raised(call)
        assert type(error) is expected and str(error) == f"{name} failed"
    pending = store.build_lookup().execute_async("k")  # the error is the wait's
    assert type(raised(pending.wait)) is expected
    bind(kind, fail_opens=True)
    assert type(raised(lambda: KVStore.open("s"))) is expected


@pytest.mark.parametrize("kind", KINDS)
def test_config_store(kind: str, bind: Callable[..., FailingHost]) -> None:
    bind(kind)
    store = ConfigStore.open("c")
    error = raised(lambda: store.get("k"))
    expected = {"too_long": ConfigStoreLookupError.KeyTooLong}.get(
        kind, ConfigStoreLookupError.KeyInvalid
    )
    assert type(error) is expected and str(error) == "config_store_get failed"
    bind(kind, fail_opens=True)
    error = raised(lambda: ConfigStore.open("c"))
    expected_open = {
        "invalid_argument": ConfigStoreOpenError.NameInvalid,
        "too_long": ConfigStoreOpenError.NameTooLong,
    }.get(kind, ConfigStoreOpenError.Unexpected)
    assert type(error) is expected_open
    assert str(error) == 'cannot open config store "c": open of c failed'


@pytest.mark.parametrize("kind", KINDS)
def test_secret_store(kind: str, bind: Callable[..., FailingHost]) -> None:
    bind(kind)
    store = SecretStore.open("s")
    for call in (lambda: store.get("n"), lambda: store.contains("n")):
        error = raised(call)
        assert type(error) is SecretStoreLookupError.InvalidSecretName
        assert str(error) == "invalid secret name: secret_store_get failed"
    bind(kind, fail_opens=True)
    error = raised(lambda: SecretStore.open("s"))
    assert type(error) is SecretStoreOpenError.InvalidSecretStoreName
    assert str(error) == "invalid secret store name: open of s failed"


@pytest.mark.parametrize("kind", KINDS)
def test_acl(kind: str, bind: Callable[..., FailingHost]) -> None:
    bind(kind)
    acl = Acl.open("a")
    error = raised(lambda: acl.lookup(ipaddress.ip_address("192.0.2.1")))
    expected = (
        AclLookupError.InvalidArgument
        if kind == "invalid_argument"
        else AclLookupError.InvalidResponseBody
    )
    assert type(error) is expected and str(error) == "acl_lookup failed"
    bind(kind, fail_opens=True)
    error = raised(lambda: Acl.open("a"))
    assert type(error) is AclOpenError.AclNotFound and str(error) == "open of a failed"


@pytest.mark.parametrize("kind", KINDS)
def test_erl(kind: str, bind: Callable[..., FailingHost]) -> None:
    bind(kind)
    counter, box = RateCounter.open("rc"), Penaltybox.open("pb")
    expected = ERLError.InvalidArgument if kind == "invalid_argument" else ERLError.Unexpected
    for call, name in [
        (lambda: counter.increment("e", 1), "erl_increment"),
        (lambda: counter.lookup_rate("e", 1), "erl_rate"),
        (lambda: counter.lookup_count("e", 10), "erl_count"),
        (lambda: box.add("e", 60), "penaltybox_add"),
        (lambda: box.has("e"), "penaltybox_has"),
        (lambda: ERL.open(counter, box).check_rate("e", 1, 1, 10, 60), "erl_check_rate"),
    ]:
        error = raised(call)
        assert type(error) is expected and str(error) == f"{name} failed"


@pytest.mark.parametrize("kind", KINDS)
def test_lookups_fail_as_runtime_errors(kind: str, bind: Callable[..., FailingHost]) -> None:
    bind(kind)
    error = raised(lambda: geo_lookup("192.0.2.1"))
    assert type(error) is RuntimeError
    assert str(error) == "geolocation lookup failed: geo_lookup failed"
    error = raised(lambda: device_lookup("ua"))
    assert type(error) is RuntimeError
    assert str(error) == "device detection lookup failed: device_lookup failed"


@pytest.mark.parametrize("kind", KINDS)
def test_cache_and_purge(kind: str, bind: Callable[..., FailingHost]) -> None:
    bind(kind)
    found = core.lookup(b"k").execute()
    assert found is not None
    tx = core.Transaction.lookup(b"k").execute()
    for call, name in [
        (lambda: found.to_stream(), "cache_body"),
        (lambda: core.insert(b"k", 60).execute(), "cache_insert"),
        (
            lambda: core.Transaction.lookup(b"k").execute().insert(60).execute(),
            "cache_transaction_insert",
        ),
        (lambda: tx.cancel_insert_or_update(), "cache_transaction_cancel"),
        (lambda: simple.get_or_set(b"k", b"v", 60), "cache_transaction_insert"),
    ]:
        error = raised(call)
        assert type(error) is core.CacheError and str(error) == f"{name} failed"
    for call in (
        lambda: sdk_purge.purge_surrogate_key("g"),
        lambda: sdk_purge.soft_purge_surrogate_key("g"),
    ):
        error = raised(call)
        assert type(error) is RuntimeError and str(error).endswith("purge_surrogate_key failed")


# -- what the converted modules import -------------------------------------------------------
SDK = Path(__file__).resolve().parent.parent / "compute_emu" / "sdk"
THROUGH_THE_HOST = [
    "kv_store.py", "config_store.py", "secret_store.py", "acl.py", "geo.py",
    "device_detection.py", "erl.py", "compute_runtime.py", "purge.py", "cache/core.py",
    "cache/simple.py", "cache/_objects.py", "_variants.py", "_client_info.py", "_names.py",
    "_interface.py",
]  # fmt: skip
#: what Wasm CPython cannot do (the SDK must run inside a component)
NOT_IN_WASM = {"resource", "socket", "ssl", "asyncio", "subprocess", "tempfile", "selectors"}


def _imports(path: Path) -> Iterator[tuple[str, int, list[str]]]:
    """``(module, level, names)`` of every import outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text())
    skip = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in ast.walk(block)
    }
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, 0, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, [alias.name for alias in node.names]


def _sdk_modules(path: Path, module: str, level: int, names: list[str]) -> list[Path] | None:
    """The SDK files a relative import loads (``None``: it leaves the SDK). The package's
    ``__init__`` is not followed: every module sits under it, and it imports them all."""
    base = path.parent
    for _ in range(level - 1):
        base = base.parent
    target = base.joinpath(*module.split(".")) if module else base
    if not target.resolve().is_relative_to(SDK):
        return None
    if target.with_suffix(".py").exists():
        return [target.with_suffix(".py")]
    return [target / f"{name}.py" for name in names if (target / f"{name}.py").exists()]


def test_the_sdk_reaches_the_outside_only_through_its_host() -> None:
    seen: set[Path] = set()
    todo = [SDK / name for name in THROUGH_THE_HOST]
    bad = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module, level, names in _imports(path):
            if level == 0:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names or top in NOT_IN_WASM:
                    bad.append(f"{path.relative_to(SDK)}: {module}")
                continue
            files = _sdk_modules(path, module, level, names)
            if files is None:
                bad.append(f"{path.relative_to(SDK)}: {'.' * level}{module}")
            else:
                todo.extend(files)
    assert bad == []
    assert SDK / "_body.py" in seen  # the modules they import were looked at too
