"""Purging by surrogate key (mirrors ``fastly::http::purge``).

Purges reach every object in the server's cache tagged with the key: readthrough HTTP
objects (``Surrogate-Key`` response header, ``set_surrogate_key``) and Core/Simple cache
objects. A soft purge marks them stale instead of removing them, so ``stale-while-revalidate``
and ``stale-if-error`` can still serve them. Difference from Rust: errors would raise; locally
a purge cannot fail.
"""

from __future__ import annotations

from ._interface import HostError
from ._variants import host


def _run(what: str, key: str, soft: bool) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("a surrogate key must be a non-empty string")
    runtime = host(what)
    try:
        runtime.purge_surrogate_key(key, soft)
    except HostError as exc:  # e.g. a host with no cache
        raise RuntimeError(f"{what}: {exc}") from None


def purge_surrogate_key(surrogate_key: str) -> None:
    """Remove every cached object tagged ``surrogate_key``."""
    _run("purge_surrogate_key()", surrogate_key, False)


def soft_purge_surrogate_key(surrogate_key: str) -> None:
    """Mark every cached object tagged ``surrogate_key`` stale."""
    _run("soft_purge_surrogate_key()", surrogate_key, True)
