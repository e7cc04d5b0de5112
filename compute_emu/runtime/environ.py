"""``os.environ`` as each app instance sees it, without writing to the process environment.

A Compute instance has its own environment (``FASTLY_*``, a ``FASTLY_TRACE_ID`` per request).
compute-emu gives each ``main()`` call a layer over the real environment instead of writing to
``os.environ`` for the whole process (which would make two servers in one process, or two
requests with different trace ids, step on each other). :func:`install` replaces
``os.environ`` once with :class:`LayeredEnviron`, which reads the layer bound to the current
thread (by :func:`bound`) before the real environment, and behaves exactly like the real one
where no layer is bound. Writes made by an app go to its own layer and vanish with it.

The process's own ``FASTLY_*`` variables (a ``FASTLY_API_TOKEN`` in the developer's shell, say)
are hidden inside a layer unless a layer sets them: a Compute guest sees only the ``FASTLY_*``
variables the platform gives it, so an app cannot come to depend on one it will not have.

Child processes started with ``env=None`` inherit the real process environment, not a layer:
pass ``env=dict(os.environ)`` to hand them what the app sees.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import ChainMap
from collections.abc import Iterator, Mapping, MutableMapping

_local = threading.local()


class LayeredEnviron(MutableMapping[str, str]):
    """The real ``os.environ`` under a per-thread layer (see the module docstring)."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._guest_keys: frozenset[str] | None = None  # base's FASTLY_* names, cached

    def guest_keys(self) -> frozenset[str]:
        """The real environment's ``FASTLY_*`` names (read once; writes through
        ``os.environ`` outside a layer refresh it)."""
        keys = self._guest_keys
        if keys is None:
            keys = self._guest_keys = frozenset(k for k in self.base if k.startswith(GUEST_PREFIX))
        return keys

    def _view(self) -> MutableMapping[str, str]:
        layer: ChainMap[str, str] | None = getattr(_local, "layer", None)
        return self.base if layer is None else layer

    def __getitem__(self, key: str) -> str:
        value = self._view()[key]
        if value is _DELETED:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: str) -> None:
        view = self._view()
        view[key] = value
        if view is self.base:
            self._guest_keys = None

    def __delitem__(self, key: str) -> None:
        view = self._view()
        if isinstance(view, ChainMap):
            if key not in view:
                raise KeyError(key)
            view.maps[0][key] = _DELETED  # hide it in this layer only
            return
        del view[key]
        self._guest_keys = None

    def __iter__(self) -> Iterator[str]:
        view = self._view()
        return (k for k in view if view[k] is not _DELETED)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        view = self._view()
        return key in view and view[key] is not _DELETED  # type: ignore[index]

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = self._view().get(key, default)
        return default if value is _DELETED else value

    def copy(self) -> dict[str, str]:
        """A plain dict of what this thread sees (as ``os.environ.copy()`` gives)."""
        return dict(self.items())

    def __repr__(self) -> str:
        return f"environ({self.copy()!r})"


class _Deleted(str):
    """Marks a variable an app deleted in its own layer."""


_DELETED = _Deleted("")
GUEST_PREFIX = "FASTLY_"  # the process's variables with this prefix are hidden from the app
_install_lock = threading.Lock()


def install() -> LayeredEnviron:
    """Put :class:`LayeredEnviron` in place of ``os.environ`` (once per process)."""
    with _install_lock:
        if not isinstance(os.environ, LayeredEnviron):
            # the same variables, seen through layers (not an attempt to clear them)
            os.environ = LayeredEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003
        return os.environ  # type: ignore[return-value]


@contextlib.contextmanager
def bound(*layers: Mapping[str, str]) -> Iterator[None]:
    """Within the block this thread sees ``layers`` (first wins) over the real environment,
    without the real environment's ``FASTLY_*`` variables that no layer sets."""
    current: object = os.environ
    environ = current if isinstance(current, LayeredEnviron) else install()
    base = environ.base
    previous = getattr(_local, "layer", None)
    hidden = {
        key: _DELETED for key in environ.guest_keys() if not any(key in layer for layer in layers)
    }
    _local.layer = ChainMap({}, *layers, hidden, base)  # type: ignore[arg-type]
    try:
        yield
    finally:
        _local.layer = previous
