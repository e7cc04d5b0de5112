"""The ``wit_world`` module tree, built at serve time from the stubs in the user's SDK wheel.

The official SDK (``fastly-compute``) talks to the host through ``wit_world.imports.*``, the
Python bindings componentize-py generates from Fastly's WIT. Its wheel ships the same
bindings as stubs (``fastly_compute/testing/stubs/wit_world``): the same modules, classes,
dataclasses and enums, with functions that raise ``NotImplementedError``. compute-emu runs
those stub files as the real ``wit_world`` modules and puts its own implementation in place of
every function that has one (``impl`` below). Every other function raises the WIT's
``Unsupported`` error (as Viceroy does), so a name the SDK patches always exists, and a new
SDK release brings its own names and types.

Nothing is written to the user's environment: a finder on ``sys.meta_path`` serves
``wit_world`` and ``componentize_py_types`` from the wheel's stubs to this process only.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import registry, stub_facts
from .registry import err, wit
from .stub_facts import StubFunction

TOP_NAMES = ("wit_world", "componentize_py_types")


def stubs_dir() -> Path | None:
    """``fastly_compute/testing/stubs`` of the installed SDK (found without importing it)."""
    spec = importlib.util.find_spec("fastly_compute")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "testing" / "stubs"
        if (candidate / "wit_world" / "imports").is_dir():
            return candidate
    return None


# -- what a stub function raises, and compute-emu's stand-in for what it does not implement ---
def _raises(doc: str | None) -> str | None:
    """The error type a stub's docstring names: ``Raises: `...Err(wit_world.imports.X.Y)```."""
    for line in (doc or "").splitlines():
        if "Raises:" in line and "Err(" in line:
            return line.split("Err(", 1)[1].split(")", 1)[0]
    return None


def _unsupported_value(error_type: str) -> object:
    """The value of an ``Unsupported`` error of WIT type ``error_type``."""
    module_name, _, type_name = error_type.rpartition(".")
    module = registry.loaded(module_name.rpartition(".")[2])
    if module is None or module_name.startswith("componentize"):
        return None
    kinds: dict[str, Callable[[], object]] = {
        "Error": lambda: module.Error_Unsupported(),
        "OpenError": lambda: module.OpenError.UNSUPPORTED,
        "TrailerError": lambda: module.TrailerError_Error(wit("types").Error_Unsupported()),
        "ErrorWithDetail": lambda: module.ErrorWithDetail(None, wit("types").Error_Unsupported()),
        "KvError": lambda: module.KvError_GenericError(),
        "AclError": lambda: module.AclError.GENERIC_ERROR,
        "StreamError": lambda: module.StreamError_Closed(),
    }
    make = kinds.get(type_name)
    return make() if make is not None else None


def _stand_in(module: str, name: str, doc: str | None) -> Callable[..., Any]:
    error_type = _raises(doc)
    where = f"wit_world.imports.{module}.{name}"

    def unsupported(*args: object, **kwargs: object) -> Any:
        if error_type is None:  # no result type: on Compute this would trap
            raise NotImplementedError(f"{where} is not implemented by compute-emu")
        raise err(_unsupported_value(error_type))

    unsupported.__name__ = name.rpartition(".")[2]
    unsupported.__qualname__ = name
    unsupported.__doc__ = f"Not implemented by compute-emu: raises Unsupported.\n\n{doc or ''}"
    unsupported._compute_emu_unsupported = True  # type: ignore[attr-defined]
    return unsupported


def _release(self: object, *args: object) -> None:
    """``with resource:`` ends: nothing to release locally (the garbage collector frees it)."""


Wrap = Callable[[Callable[..., Any]], Callable[..., Any]]
Reader = Callable[[Path], dict[str, StubFunction]]  # a stub file -> what it says


def read_stub(path: Path) -> dict[str, StubFunction]:
    """What the stub file at ``path`` says about its functions (parsed now)."""
    return stub_facts.read(path.read_text(encoding="utf-8"))


def _bind(
    short: str, module: types.ModuleType, functions: dict[str, StubFunction], wrap: Wrap | None
) -> None:
    """Put compute-emu's implementation (or the Unsupported stand-in) in place of each stub,
    through ``wrap`` if one was installed."""
    for name, function in functions.items():
        if not function.stub:
            continue
        func = registry.implementation(short, name)
        if func is None:
            doc = function.doc
            func = _release if name.endswith(".__exit__") else _stand_in(short, name, doc)
        if wrap is not None:
            func = wrap(func)
        owner_name, _, attr = name.rpartition(".")
        if not owner_name:
            setattr(module, attr, func)
            continue
        owner = getattr(module, owner_name)
        if function.is_classmethod:
            setattr(owner, attr, classmethod(func))
        else:
            setattr(owner, attr, func)


class _StubLoader(importlib.machinery.SourceFileLoader):
    """Runs a stub file as the module, then binds compute-emu's implementations into it."""

    def __init__(self, fullname: str, path: str, wrap: Wrap | None, reader: Reader) -> None:
        super().__init__(fullname, path)
        self.wrap = wrap
        self.reader = reader

    def exec_module(self, module: types.ModuleType) -> None:
        super().exec_module(module)
        short = module.__name__.rpartition(".")[2]
        registry.record(short, module)
        if module.__name__.startswith("wit_world.imports."):
            _bind(short, module, self.reader(Path(self.path)), self.wrap)
            module.__compute_emu__ = True  # type: ignore[attr-defined]


class StubFinder(importlib.abc.MetaPathFinder):
    """Finds ``wit_world.*`` and ``componentize_py_types`` in the SDK's stubs directory."""

    def __init__(self, root: Path, wrap: Wrap | None = None, reader: Reader = read_stub) -> None:
        self.root = root
        self.wrap = wrap
        self.reader = reader

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in TOP_NAMES:
            return None
        base = self.root.joinpath(*fullname.split("."))
        if (base / "__init__.py").is_file():
            file, search = base / "__init__.py", [str(base)]
        elif base.with_suffix(".py").is_file():
            file, search = base.with_suffix(".py"), None
        else:
            return None
        loader = _StubLoader(fullname, str(file), self.wrap, self.reader)
        return importlib.util.spec_from_file_location(
            fullname, file, loader=loader, submodule_search_locations=search
        )


def install(root: Path, wrap: Wrap | None = None, reader: Reader = read_stub) -> list[str]:
    """Make ``wit_world`` importable from ``root`` (the stubs) and import all of its
    interfaces now, before ``fastly_compute`` binds them. Returns the interface names.

    The implementations must be registered first (``import compute_emu.official.interfaces``:
    the composition root, :mod:`.serving`, does); a function with none raises Unsupported.
    ``wrap``, if given, wraps every function put into the bindings; ``reader`` says what a
    stub file defines (``serve --wasm`` keeps that by content hash). The first install of a
    process decides both.
    """
    for name in TOP_NAMES:
        module = sys.modules.get(name)
        loader = getattr(getattr(module, "__spec__", None), "loader", None)
        if module is not None and not isinstance(loader, _StubLoader):
            raise RuntimeError(f"another {name} module is already imported ({module!r})")
    if not any(isinstance(f, StubFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, StubFinder(root, wrap, reader))
    names = sorted(p.stem for p in (root / "wit_world" / "imports").glob("*.py"))
    names.remove("__init__")
    importlib.import_module("wit_world.exports")
    for name in names:
        importlib.import_module(f"wit_world.imports.{name}")
    return names
