"""Does importing a module load a C extension (a ``.so`` built for this machine, which cannot
load in Wasm)? Answered by reading files: the module's own file, then, inside its top-level
package, the modules it imports when it loads (so a package that ships a native helper it never
imports at load time, like ``fastly_compute``'s build tool, is not taken for one)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

NATIVE_SUFFIXES = (".so", ".pyd")


def find(root: Path, module: str) -> Path | None:
    """The file of ``module`` under ``root``: ``a/b.py``, ``a/b/__init__.py`` or an extension."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    folder = base.parent
    if folder.is_dir():
        for path in folder.glob(f"{base.name}.*"):
            if path.suffix in NATIVE_SUFFIXES and path.is_file():
                return path
    return None


def _load_time_imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Absolute names of what a module imports when it loads (function bodies left out)."""
    package = module if is_package else module.rpartition(".")[0]
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)
        else:
            pending.extend(ast.iter_child_nodes(node))


def native_module(module: str, roots: list[Path], limit: int = 200) -> str | None:
    """The C extension that ``import module`` loads (found in ``roots``), else None."""
    top = module.partition(".")[0]
    root = next((r for r in roots if find(r, top) is not None), None)
    if root is None:
        return None  # the standard library, or not installed
    seen: set[str] = set()
    pending = [".".join(module.split(".")[:end]) for end in range(1, module.count(".") + 2)]
    while pending and len(seen) < limit:
        name = pending.pop()
        if name in seen or name.partition(".")[0] != top:
            continue
        seen.add(name)
        path = find(root, name)
        if path is None:
            continue
        if path.suffix in NATIVE_SUFFIXES:
            return name
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        pending.extend(_load_time_imports(tree, name, path.name == "__init__.py"))
    return None
