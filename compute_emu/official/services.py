"""``log``, ``geo``, ``device-detection``, ``acl``, ``compute-runtime`` and ``erl``.

Log lines go to the request's log as ``NAME :: message`` (``compute_emu.sdk.Endpoint``); geo,
device detection and ACLs read fastly.toml's tables; compute-runtime answers what Viceroy
sets in the environment; ERL counts for real, with ``compute_emu.sdk.erl``'s counters (Viceroy
counts nothing; Compute does).
"""

from __future__ import annotations

import ipaddress
import json
import os
import resource
import time
from collections.abc import Callable
from typing import Any

from ..sdk import device_detection
from ..sdk._body import Body
from ..sdk._log import Endpoint, LogError
from ..sdk.acl import Acl, AclError
from ..sdk.compute_runtime import LOCAL_VALUES
from ..sdk.erl import ERL, ERLError, Penaltybox, RateCounter
from ..sdk.geo import geo_lookup
from . import handles, registry
from .messages import fit
from .registry import impl


def _exit(self: object, *args: object) -> None:
    """Nothing to release locally."""


def ip_of(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An ``ipaddress`` object for a ``types.ip-address``."""
    parts = tuple(value.value)
    if type(value).__name__.endswith("Ipv4"):
        return ipaddress.IPv4Address(bytes(parts))
    return ipaddress.IPv6Address(b"".join(p.to_bytes(2, "big") for p in parts))


# -- log -----------------------------------------------------------------------------------
@impl("log", "Endpoint.open")
def log_open(cls: type, name: str) -> Any:
    try:
        endpoint = Endpoint(name)
    except LogError as exc:
        kind = "RESERVED" if "reserved" in str(exc) else "INVALID_SYNTAX"
        raise registry.open_error(kind) from exc
    return handles.new("log", "Endpoint", endpoint)


@impl("log", "Endpoint.write")
def log_write(self: object, msg: bytes) -> None:
    endpoint: Endpoint = handles.emu(self, Endpoint)
    endpoint.write(bytes(msg))


impl("log", "Endpoint.__exit__")(_exit)


# -- geo, device detection, ACLs -----------------------------------------------------------
@impl("geo", "lookup")
def geo(ip_addr: Any, max_len: int) -> str:
    record = geo_lookup(ip_of(ip_addr))
    if record is None:
        raise registry.error("GenericError")  # no data for this address
    return fit(json.dumps(record.raw()), max_len)


@impl("device_detection", "lookup")
def device(user_agent: str, max_len: int) -> str | None:
    found = device_detection.lookup(user_agent)
    return None if found is None else fit(json.dumps(found.raw()), max_len)


@impl("acl", "Acl.open")
def acl_open(cls: type, name: str) -> Any:
    try:
        return handles.new("acl", "Acl", Acl.open(name))
    except AclError as exc:
        raise registry.open_error("NOT_FOUND") from exc


@impl("acl", "Acl.lookup")
def acl_lookup(self: object, ip_addr: Any) -> Any:
    acl: Acl = handles.emu(self, Acl)
    try:
        match = acl.lookup(ip_of(ip_addr))
    except AclError as exc:
        raise registry.err(registry.wit("acl").AclError.GENERIC_ERROR) from exc
    if match is None:
        return None
    text = json.dumps({"action": match.action().value, "prefix": match.prefix()})
    return handles.new_body(Body(text.encode()))


impl("acl", "Acl.__exit__")(_exit)


# -- compute-runtime -----------------------------------------------------------------------
def _env(name: str, default: str | None = None) -> str:
    return os.environ.get(name) or (LOCAL_VALUES[name] if default is None else default)


@impl("compute_runtime", "get_vcpu_ms")
def get_vcpu_ms() -> int:
    """CPU time of this request's thread since the request began."""
    return int((time.thread_time() - handles.current().cpu_start) * 1000)


@impl("compute_runtime", "get_heap_mib")
def get_heap_mib() -> int:
    """The whole process's peak RSS (one process serves every request here)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


@impl("compute_runtime", "get_sandbox_id")
def get_sandbox_id() -> str:
    return _env("FASTLY_TRACE_ID", "0" * 32)


impl("compute_runtime", "get_hostname")(lambda: _env("FASTLY_HOSTNAME"))
impl("compute_runtime", "get_pop")(lambda: _env("FASTLY_POP"))
impl("compute_runtime", "get_region")(lambda: _env("FASTLY_REGION"))
impl("compute_runtime", "get_customer_id")(lambda: _env("FASTLY_CUSTOMER_ID"))
impl("compute_runtime", "get_service_id")(lambda: _env("FASTLY_SERVICE_ID"))
impl("compute_runtime", "get_namespace_id")(lambda: _env("FASTLY_NAMESPACE_ID", ""))
impl("compute_runtime", "get_is_staging")(lambda: _env("FASTLY_IS_STAGING") == "1")
impl("compute_runtime", "get_cache_generation")(lambda: int(_env("FASTLY_CACHE_GENERATION") or 0))
impl("compute_runtime", "get_service_version")(lambda: int(_env("FASTLY_SERVICE_VERSION") or 0))


# -- erl: real counters (compute_emu.sdk.erl's, shared with compute_emu.sdk apps) -----------
def _erl_open(cls: type, name: str) -> Any:
    if not isinstance(name, str) or not name:
        raise registry.open_error("INVALID_SYNTAX")
    kind = RateCounter if cls.__name__ == "RateCounter" else Penaltybox
    return handles.new("erl", cls.__name__, kind.open(name))


def _erl_name(self: object) -> str:
    named: RateCounter | Penaltybox = handles.emu(self, (RateCounter, Penaltybox))
    return named.name()


def _erl(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` with ``ERLError.InvalidArgument`` (a TTL, window or delta out of range) as
    the WIT's ``invalid-argument``."""

    def run(*args: Any) -> Any:
        try:
            return call(*args)
        except ERLError as exc:
            raise registry.error("InvalidArgument") from exc

    return run


def _counter(handle: object) -> RateCounter:
    counter: RateCounter = handles.emu(handle, RateCounter)
    return counter


def _box(handle: object) -> Penaltybox:
    box: Penaltybox = handles.emu(handle, Penaltybox)
    return box


def _check_rate(
    self: object, entry: str, delta: int, window: int, limit: int, box: object, ttl: int
) -> bool:
    return ERL.open(_counter(self), _box(box)).check_rate(entry, delta, window, limit, ttl)


for _cls in ("RateCounter", "PenaltyBox"):
    impl("erl", f"{_cls}.open")(_erl_open)
    impl("erl", f"{_cls}.get_name")(_erl_name)
    impl("erl", f"{_cls}.__exit__")(_exit)
impl("erl", "RateCounter.check_rate")(_erl(_check_rate))
impl("erl", "RateCounter.increment")(_erl(lambda self, e, d: _counter(self).increment(e, d)))
impl("erl", "RateCounter.lookup_rate")(_erl(lambda self, e, w: _counter(self).lookup_rate(e, w)))
impl("erl", "RateCounter.lookup_count")(_erl(lambda self, e, d: _counter(self).lookup_count(e, d)))
impl("erl", "PenaltyBox.add")(_erl(lambda self, e, ttl: _box(self).add(e, ttl)))
impl("erl", "PenaltyBox.has")(_erl(lambda self, e: _box(self).has(e)))
