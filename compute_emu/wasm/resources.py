"""One request's resource handles: the objects behind the handles the component holds.

A handle crosses the component boundary as a number (its ``rep``); the object behind it is
whatever ``compute_emu/official/`` made for the WIT resource (a stub-class instance carrying a
``compute_emu.sdk`` request, response, body, backend, ...). A fresh table per request, bound to
the thread that runs the component (:func:`bound`), like the instance itself. When the component
drops a handle, the object's ``__exit__`` runs (what ``with resource:`` does natively: a
streaming body still open is finished); when the instance goes away, so do all handles left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from wasmtime import StoreContext, Storelike
from wasmtime import component as wc


class HostFailure(Exception):
    """What made a host function trap: the import's name and the exception it raised."""

    def __init__(self, function: str, error: BaseException) -> None:
        super().__init__(f"{function}: {type(error).__name__}: {error}")
        self.function = function
        self.error = error


class ResourceTable:
    """The objects behind one request's handles, by ``rep``; and why the component trapped."""

    def __init__(self) -> None:
        self._objects: dict[int, Any] = {}
        self._next = 1
        self.store: Storelike | None = None  # the store of the host call under way
        self.failure: HostFailure | None = None  # the first host function that trapped

    def __len__(self) -> int:
        return len(self._objects)

    def lift(self, handle: wc.ResourceAny) -> Any:
        """The object behind a handle the component passed to a host function."""
        assert self.store is not None
        rep = handle.to_host(self.store).rep
        try:
            return self._objects[rep]
        except KeyError:
            raise LookupError(f"no resource with handle {rep} in this request") from None

    def lower(self, value: object, host_type: int) -> wc.ResourceHost:
        """A new owned handle for ``value``."""
        rep = self.add(value)
        return wc.ResourceHost.own(rep, host_type)

    def add(self, value: object) -> int:
        rep = self._next
        self._next += 1
        self._objects[rep] = value
        return rep

    def drop(self, rep: int) -> None:
        """The component dropped a handle: the object's ``__exit__`` runs."""
        value = self._objects.pop(rep, None)
        if value is not None:
            _exit(value)

    def drop_all(self) -> None:
        """The instance is gone: every handle it still held is dropped (last made first)."""
        while self._objects:
            _, value = self._objects.popitem()
            _exit(value)


def _exit(value: object) -> None:
    exit_ = getattr(type(value), "__exit__", None)
    if exit_ is not None:
        exit_(value, None, None, None)


_current: ContextVar[ResourceTable | None] = ContextVar("compute_emu_wasm_table", default=None)


def current() -> ResourceTable:
    """The table of the request whose component is running on this thread."""
    table = _current.get()
    if table is None:
        raise RuntimeError("a fastly:compute import was called outside a request")
    return table


def dropped(store: StoreContext, rep: int) -> None:
    """The resource destructor wasmtime calls (a no-op once the request is over)."""
    table = _current.get()
    if table is not None:
        table.drop(rep)


@contextlib.contextmanager
def bound(table: ResourceTable) -> Iterator[ResourceTable]:
    """``table`` is the current one while the component runs on this thread."""
    token = _current.set(table)
    try:
        yield table
    finally:
        _current.reset(token)


class CurrentTable:
    """The resource side of the value bridge: the running request's table."""

    def lift(self, handle: wc.ResourceAny) -> Any:
        return current().lift(handle)

    def lower(self, value: object, host_type: int) -> wc.ResourceHost:
        return current().lower(value, host_type)
