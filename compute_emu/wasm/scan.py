"""What in the app's own modules will not work on Compute, found by reading their source.

Compute runs CPython compiled to Wasm, without threads, sockets, processes, an event loop or a
file system (facts in docs/deploying.md). The build imports the entry module (the component
is a snapshot of it), so a module that does not exist in Wasm CPython (``ssl``, ``resource``,
a C extension built for this machine) fails the build when it is imported at load time; used
at run time, the others fail or trap the request. This module reports both, with file and
line: load-time imports of what cannot load as errors (the build stops), the rest as
warnings. Pure: sources in, findings out; whether a module is a C extension is asked of a
function the caller gives.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

# Modules that do not exist in the component's CPython (3.14, WASI): importing one raises
# ModuleNotFoundError. Measured in a built component (docs/deploying.md).
_NO_TLS = "TLS is the platform's on Compute: send() to an https backend"
_NO_OS = "no operating system services on Compute"
MISSING = {
    "ssl": _NO_TLS,
    "_ssl": _NO_TLS,
    "_hashlib": _NO_TLS + " (hashlib itself works)",
    "resource": "there are no process limits to read on Compute",
    "ctypes": "no C libraries on Compute",
    "_ctypes": "no C libraries on Compute",
    "mmap": _NO_OS,
    "fcntl": _NO_OS,
    "termios": _NO_OS,
    "pty": _NO_OS,
    "grp": _NO_OS,
    "pwd": _NO_OS,
    "syslog": _NO_OS + " (print() goes to the log)",
    "readline": _NO_OS,
    "curses": _NO_OS,
    "tkinter": _NO_OS,
    "_posixsubprocess": "no processes on Compute",
    "bz2": "not in the component's CPython (zlib and gzip are)",
    "lzma": "not in the component's CPython (zlib and gzip are)",
}

# Modules that import but fail (or trap the whole request) when used on Compute.
FAILS_AT_RUN = {
    "socket": "no sockets on Compute: a connection traps the whole request (send() to a "
    "backend instead)",
    "ssl": MISSING["ssl"],
    "threading": "no threads on Compute: starting one raises RuntimeError",
    "_thread": "no threads on Compute: starting one raises RuntimeError",
    "subprocess": "no processes on Compute",
    "multiprocessing": "no processes on Compute",
    "asyncio": "no event loop on Compute: asyncio.run() traps the whole request",
    "concurrent.futures": "no threads or processes on Compute",
    "select": "no sockets to wait on on Compute",
    "selectors": "no sockets to wait on on Compute",
    "tempfile": "no file system on Compute: there is no temporary directory",
}

# Attributes Wasm CPython lacks: using one raises AttributeError (measured).
MISSING_ATTRIBUTES = {
    ("time", "thread_time"): "no per-thread CPU clock in Wasm CPython (time.process_time is)",
    ("time", "thread_time_ns"): "no per-thread CPU clock in Wasm CPython (time.process_time is)",
}

FILE_CALLS = {"open", "io.open", "os.open", "Path", "pathlib.Path", "PurePath", "os.listdir"}
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


@dataclass(frozen=True)
class Finding:
    """One thing that will not work on Compute; ``fatal`` ones stop the build."""

    path: str
    line: int
    message: str
    fatal: bool = False

    def __str__(self) -> str:
        kind = "error" if self.fatal else "warning"
        return f"{self.path}:{self.line}: {kind}: {self.message}"


@dataclass(frozen=True)
class _Import:
    module: str
    line: int
    at_load: bool  # runs when the module is imported (not in a function, not guarded)


def _imported(node: ast.Import | ast.ImportFrom, package: str | None = None) -> list[str]:
    """The absolute names an import names; a relative one only if ``package`` (the importing
    module's package) is given to resolve it."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        if package is None:
            return []  # the app's own
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
        module = f"{base}.{node.module}" if node.module else base
    elif node.module:
        module = node.module
    else:
        return []
    return [module] + [f"{module}.{alias.name}" for alias in node.names]


def _guards_import_errors(node: ast.Try | ast.TryStar) -> bool:
    for handler in node.handlers:
        if handler.type is None:
            return True
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(ast.unparse(name).rpartition(".")[2] in IMPORT_ERRORS for name in names):
            return True
    return False


def imports_of(tree: ast.Module, package: str | None = None) -> Iterator[_Import]:
    """Every absolute import (relative ones too, resolved, if ``package`` is given), and
    whether it runs when the module loads, unguarded."""

    def walk(nodes: Iterable[ast.AST], at_load: bool) -> Iterator[_Import]:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _imported(node, package):
                    yield _Import(name, node.lineno, at_load)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(ast.iter_child_nodes(node), False)
            elif isinstance(node, ast.Try | ast.TryStar):
                guarded = at_load and not _guards_import_errors(node)
                yield from walk(node.body, guarded)
                yield from walk(node.handlers, at_load)
                yield from walk(node.orelse + node.finalbody, at_load)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                yield from walk(node.orelse, at_load)  # the body never runs
            else:
                yield from walk(ast.iter_child_nodes(node), at_load)

    yield from walk(tree.body, True)


def foreign_imports(
    tree: ast.Module, module: str, is_package: bool, allowed: str
) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of each import that runs when ``module`` loads and names a module of
    ``allowed``'s top-level package outside ``allowed`` (``compute_emu.platform`` from
    ``compute_emu.sdk``): what a copy of ``allowed`` alone cannot load."""
    package = module if is_package else module.rpartition(".")[0]
    top = allowed.partition(".")[0]
    reported: set[int] = set()
    for item in imports_of(tree, package):
        name = item.module
        inside = name == allowed or name.startswith(allowed + ".")
        ours = name.partition(".")[0] == top and name != top  # the bare package is staged
        if item.at_load and ours and not inside and item.line not in reported:
            reported.add(item.line)
            yield item.line, name


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _outside(path: str) -> bool:
    """A literal path that leaves the project: absolute, home-relative, or climbing up."""
    if path.startswith(("/", "~", "\\")) or (len(path) > 1 and path[1] == ":"):
        return True
    return ".." in PurePosixPath(path.replace("\\", "/")).parts


def file_accesses(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """``(line, path)`` of each ``open()``/``Path()``-like call on a literal path outside the
    project."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        if ast.unparse(node.func) not in FILE_CALLS:
            continue
        first = node.args[0]
        if (
            isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and _outside(first.value)
        ):
            yield node.lineno, first.value


def missing_attributes(tree: ast.Module) -> Iterator[tuple[int, str, str]]:
    """``(line, "module.attr", why)`` of each use of an attribute Wasm CPython lacks
    (``time.thread_time``, ``from time import thread_time``); ``getattr()`` with a default is
    the way to use one where it exists."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            key = (node.value.id, node.attr)
            if key in MISSING_ATTRIBUTES:
                yield node.lineno, ".".join(key), MISSING_ATTRIBUTES[key]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                key = (node.module, alias.name)
                if key in MISSING_ATTRIBUTES:
                    yield node.lineno, ".".join(key), MISSING_ATTRIBUTES[key]


def top_level_names(tree: ast.Module) -> set[str]:
    """Names the module binds at its top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).partition(".")[0] for a in node.names}
    return names


def scan(
    path: str,
    source: str | bytes,
    native: Callable[[str], str | None] = lambda name: None,
) -> list[Finding]:
    """The findings for one module of the app; ``native(name)`` names the C extension module
    (compiled for this machine, so not loadable in Wasm) that importing ``name`` loads."""
    try:
        tree = ast.parse(source, path)
    except SyntaxError as exc:
        return [Finding(path, exc.lineno or 1, f"syntax error: {exc.msg}", fatal=True)]
    found: list[Finding] = []
    reported: set[tuple[int, str]] = set()
    for item in imports_of(tree):
        top = item.module.partition(".")[0]
        for name in (item.module, top):
            key = (item.line, name)
            if key in reported:
                continue
            reported.add(key)
            if name in MISSING:
                why = MISSING[name]
                if item.at_load:
                    message = f"import {name}: no such module in Wasm CPython ({why})"
                    found.append(Finding(path, item.line, message, fatal=True))
                else:
                    message = f"import {name} fails on Compute: ModuleNotFoundError ({why})"
                    found.append(Finding(path, item.line, message))
            elif name in FAILS_AT_RUN:
                found.append(Finding(path, item.line, f"import {name}: {FAILS_AT_RUN[name]}"))
            elif name == item.module and (extension := native(name)) is not None:
                what = f"import {name}: loads the C extension module {extension}, built for "
                what += "this machine, not for Wasm"
                found.append(Finding(path, item.line, what, fatal=item.at_load))
    for line, name, why in missing_attributes(tree):
        found.append(Finding(path, line, f"{name}: AttributeError on Compute ({why})"))
    for line, target in file_accesses(tree):
        message = f"{target!r}: no file system on Compute (files outside the project are not there)"
        found.append(Finding(path, line, message))
    return sorted(found, key=lambda f: (f.line, f.message))
