"""Runtime information (mirrors ``fastly::compute_runtime``), with Viceroy's local values.

``pop()`` is ``"XXX"``, ``region()`` ``"Somewhere"``, ``hostname()`` ``"localhost"``,
``service_id()``/``customer_id()`` 22 zeros, ``service_version()``/``cache_generation()`` 0,
``is_staging()`` False: each is read from the app's ``FASTLY_*`` variable (so
``[scripts] env_vars`` can change it), falling back to Viceroy's value. ``sandbox_id()`` is the
request's ``FASTLY_TRACE_ID`` (32 hex digits, as Viceroy's sandbox id).

Differences: ``elapsed_vcpu_ms()`` is the CPU time of the app's thread since its instance
started (the top level and ``main()``; time waiting on I/O does not count), not a Wasm
instance's; ``heap_memory_snapshot_mib()`` is the resident memory of the whole compute-emu
process (Python has no per-request heap), rounded up to a MiB. Rust returns ``Result`` for
the two measurements; here they return the number.
"""

from __future__ import annotations

import os

from ._variants import host

#: What Viceroy puts in a guest's environment (and these functions fall back to).
LOCAL_VALUES = {
    "FASTLY_CACHE_GENERATION": "0",
    "FASTLY_CUSTOMER_ID": "0000000000000000000000",
    "FASTLY_HOSTNAME": "localhost",
    "FASTLY_IS_STAGING": "0",
    "FASTLY_POP": "XXX",
    "FASTLY_REGION": "Somewhere",
    "FASTLY_SERVICE_ID": "0000000000000000000000",
    "FASTLY_SERVICE_VERSION": "0",
}


def _env(name: str) -> str:
    return os.environ.get(name) or LOCAL_VALUES[name]


def _number(name: str) -> int:
    try:
        return int(_env(name))
    except ValueError:
        return int(LOCAL_VALUES[name])


def elapsed_vcpu_ms() -> int:
    """CPU milliseconds this instance has used so far (its thread only; I/O waits excluded)."""
    return host("compute_runtime.elapsed_vcpu_ms()").vcpu_ms()


def heap_memory_snapshot_mib() -> int:
    """Memory in use, in MiB rounded up (the process's resident set: see the module doc)."""
    return host("compute_runtime.heap_memory_snapshot_mib()").heap_mib()


def cache_generation() -> int:
    """The service's cache generation (``0`` locally)."""
    return _number("FASTLY_CACHE_GENERATION")


def customer_id() -> str:
    """The customer id (22 zeros locally)."""
    return _env("FASTLY_CUSTOMER_ID")


def hostname() -> str:
    """The cache server's hostname (``"localhost"`` locally)."""
    return _env("FASTLY_HOSTNAME")


def is_staging() -> bool:
    """Whether the service runs in its staging environment (False locally)."""
    return _env("FASTLY_IS_STAGING") == "1"


def pop() -> str:
    """The POP code (``"XXX"`` locally)."""
    return _env("FASTLY_POP")


def region() -> str:
    """The POP's region (``"Somewhere"`` locally)."""
    return _env("FASTLY_REGION")


def sandbox_id() -> str:
    """This instance's id: 32 hex digits, the request's ``FASTLY_TRACE_ID``."""
    return host("compute_runtime.sandbox_id()").sandbox_id()


def service_id() -> str:
    """The service id (22 zeros locally)."""
    return _env("FASTLY_SERVICE_ID")


def service_version() -> int:
    """The service version (``0`` locally)."""
    return _number("FASTLY_SERVICE_VERSION")


__all__ = [
    "cache_generation",
    "customer_id",
    "elapsed_vcpu_ms",
    "heap_memory_snapshot_mib",
    "hostname",
    "is_staging",
    "pop",
    "region",
    "sandbox_id",
    "service_id",
    "service_version",
]
