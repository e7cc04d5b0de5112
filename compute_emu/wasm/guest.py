"""One guest converting values at a time: wasmtime-py's component values are not thread-safe.

To lower a result, option or variant whose cases are told apart by Python class, wasmtime-py
(51) fills one module-level scratch set, and its type queries release the GIL: two threads
lowering host results at once overwrite each other's set and a valid value is refused ("value
not valid for this variant", a trap; measured: 1 host result in ~1,000 with 16 concurrent
requests). compute-emu runs requests on several threads, so a component runs holding the
guest lock (:func:`running`), and a host function lets go of it only while it does its own
work (:func:`host_work`), which may block on the network for as long as a backend takes.
Every value wasmtime-py converts, to or from the guest, is converted under the lock; the
guests' own CPU time is serialised, their waiting is not.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

_lock = threading.Lock()
T = TypeVar("T")


@contextlib.contextmanager
def running() -> Iterator[None]:
    """Hold the guest lock while a component is instantiated and runs."""
    with _lock:
        yield


def host_work(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` from inside a host function (the guest lock held), letting other
    guests run meanwhile. (A plain ``try``, not a context manager: the WIT's errors are frozen
    dataclasses, on which a context manager's exit cannot set ``__traceback__``.)"""
    _lock.release()
    try:
        return call(*args)
    finally:
        _lock.acquire()
