"""What the ``wit_world`` stubs say about each WIT function: its parameters', result's and
error's Python types (the classes of the loaded bindings), read from the stub file's source.

``compute_emu/official/world.py`` puts compute-emu's implementations in place of the stub
functions when it loads them; their annotations are still in the stub files, and evaluated in
the loaded module's namespace they name the very classes the implementations use. What each
file says is read once (:mod:`.stub_cache`), when the first of its functions is first called.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..official import world
from ..official.stub_facts import StubFunction
from . import stub_cache


@dataclass(frozen=True)
class Signature:
    """A stub function's annotations: parameters (without ``self``/``cls``), result, and the
    error type its docstring says it raises (None if none)."""

    params: tuple[Any, ...]
    result: Any
    error: Any


def module(name: str) -> Any:
    """``wit_world.imports.<name>``, or None if the bindings have no such interface."""
    try:
        return world.wit(name)
    except KeyError:
        return None


def error_class() -> type[Exception]:
    """componentize-py's ``Err``: what a WIT function raises to return its error."""
    return type(world.err(None))


def _functions(name: str) -> dict[str, StubFunction]:
    """``"Class.method"``/``"function"`` -> what the stub file says of it (kept by content)."""
    loaded = module(name)
    return stub_cache.read(Path(loaded.__file__)) if loaded is not None else {}


def _evaluate(expression: str | None, namespace: dict[str, Any], owner: Any) -> Any:
    if expression is None:
        return None
    # the SDK wheel's own stub annotations, evaluated where the stub module defines them
    value = eval(expression, namespace)
    return owner if value is typing.Self else value


def _raised(doc: str | None) -> Any:
    """The type in ``Raises: `componentize_py_types.Err(wit_world.imports.types.Error)```."""
    for line in (doc or "").splitlines():
        if "Raises:" in line and "Err(" in line:
            path = line.split("Err(", 1)[1].split(")", 1)[0]
            module_path, _, type_name = path.rpartition(".")
            owner = (
                module(module_path.rpartition(".")[2])
                if module_path.startswith("wit_world")
                else None
            )
            return None if owner is None else getattr(owner, type_name, None)
    return None


def signature(name: str, key: str) -> Signature | None:
    """The signature of ``wit_world.imports.<name>``'s ``key``; None if the stubs lack it."""
    function = _functions(name).get(key)
    loaded = module(name)
    if function is None or loaded is None:
        return None
    namespace = vars(loaded)
    owner_name = key.rpartition(".")[0]
    owner = getattr(loaded, owner_name, None) if owner_name else None
    annotations = function.annotations
    if owner_name and function.params and function.params[0] in ("self", "cls"):
        annotations = annotations[1:]
    return Signature(
        params=tuple(_evaluate(a, namespace, owner) for a in annotations),
        result=_evaluate(function.result, namespace, owner),
        error=_raised(function.doc),
    )
