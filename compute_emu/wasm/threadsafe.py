"""A thread-safety fix for wasmtime-py's component value lowering (wasmtime 51).

To lower a result, option or variant whose cases are told apart by Python class, wasmtime-py
fills one module-level scratch set (``wasmtime.component._types.case_test_cache``) with a
case's classes, then tests the value against it. Its type queries release the GIL, so two
threads lowering host results at once overwrite each other's set, and a valid value is refused
("value not valid for this variant", a trap). compute-emu runs requests on several threads:
measured, 1 host result in ~1,000 failed this way with 16 concurrent requests.

There is no public way around it, so this replaces that one module global (a private name of
the library, the only one compute-emu touches) with a set that is separate for each thread.
If a wasmtime-py release no longer has it, nothing is replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any


class PerThreadSet(set):  # type: ignore[type-arg]
    """A ``set`` whose content is the calling thread's own."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def _own(self) -> set[Any]:
        own: set[Any] | None = getattr(self._local, "set", None)
        if own is None:
            own = self._local.set = set()
        return own

    def add(self, item: Any) -> None:
        self._own().add(item)

    def clear(self) -> None:
        self._own().clear()

    def update(self, *others: Iterable[Any]) -> None:
        self._own().update(*others)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._own())

    def __len__(self) -> int:
        return len(self._own())

    def __contains__(self, item: object) -> bool:
        return item in self._own()


def apply() -> bool:
    """Give wasmtime-py's lowering a per-thread scratch set; whether it was needed."""
    from wasmtime.component import _types

    current = getattr(_types, "case_test_cache", None)
    if not isinstance(current, set) or isinstance(current, PerThreadSet):
        return False
    _types.case_test_cache = PerThreadSet()
    return True
