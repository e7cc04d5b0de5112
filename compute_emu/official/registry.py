"""compute-emu's implementations of ``wit_world`` functions, by name, and the loaded modules.

The implementation modules (:mod:`.messages`, :mod:`.http`, ...) register each function with
``@impl(module, name)``; the loader (:mod:`.world`) puts them into the ``wit_world`` modules it
builds from the SDK's stubs and records each loaded module here, so an implementation can make
the WIT's own values (``wit("types").Error_InvalidArgument()``) and errors (``err(...)``).
This module imports nothing of the package: it is the bottom of ``official/``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

# (module, "Class.method" or "function") -> implementation
_IMPLS: dict[tuple[str, str], Callable[..., Any]] = {}
# short name ("types", "http_req", "componentize_py_types") -> the loaded module
_loaded: dict[str, types.ModuleType] = {}


def impl(module: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the implementation of ``wit_world.imports.<module>``'s ``name``."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        _IMPLS[(module, name)] = func
        return func

    return register


def implemented() -> set[tuple[str, str]]:
    """What compute-emu implements, as ``(module, name)``."""
    return set(_IMPLS)


def implementation(module: str, name: str) -> Callable[..., Any] | None:
    """The registered implementation of ``module``'s ``name``, if there is one."""
    return _IMPLS.get((module, name))


def record(short: str, module: types.ModuleType) -> None:
    """Record a ``wit_world`` module the loader has run (``short``: its last name part)."""
    _loaded[short] = module


def loaded(short: str) -> types.ModuleType | None:
    """The loaded module of that short name, if the loader has run it."""
    return _loaded.get(short)


def wit(module: str) -> Any:
    """The loaded ``wit_world.imports.<module>`` (``types``, ``http_req``, ...)."""
    return _loaded[module]


def err(value: object) -> Exception:
    """componentize-py's ``Err(value)``: how a WIT function returns an error."""
    error: Exception = _loaded["componentize_py_types"].Err(value)
    return error


def error_value(kind: str, *args: object) -> object:
    """``types.Error_<kind>(...)``, e.g. ``error_value("BufferLen", 300)``."""
    return getattr(wit("types"), f"Error_{kind}")(*args)


def error(kind: str, *args: object) -> Exception:
    """``Err(types.Error_<kind>(...))``, e.g. ``error("InvalidArgument")``."""
    return err(error_value(kind, *args))


def open_error(kind: str) -> Exception:
    """``Err(types.OpenError.<KIND>)``, e.g. ``open_error("NOT_FOUND")``."""
    return err(getattr(wit("types").OpenError, kind))
