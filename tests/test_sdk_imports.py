"""The SDK's HTTP half runs on Wasm CPython too: at run time it imports the standard library
and its own modules only (what it needs from the world goes through the host interface).

A static check of the import statements (those under ``if TYPE_CHECKING:`` are for the type
checker only), following the SDK's own imports from the HTTP modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import compute_emu.sdk

SDK = Path(compute_emu.sdk.__file__).parent
HTTP_HALF = [
    "_request", "_response", "_pending", "_backend", "_streaming", "_body", "_body_streams",
    "_cache_knobs", "_log", "_host", "log",
]  # fmt: skip


def _runtime_imports(module: str) -> list[tuple[int, str | None, int]]:
    """``(level, module, line)`` of each import that runs when ``module`` is imported."""
    tree = ast.parse((SDK / f"{module}.py").read_text())
    found: list[tuple[int, str | None, int]] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.Import):
                found.extend((0, alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                found.append((node.level, node.module, node.lineno))
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, field, []):
                        visit([child] if isinstance(child, ast.stmt) else child.body)
            elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                visit(node.body)

    visit(tree.body)
    return found


def test_the_http_half_imports_only_the_standard_library_and_the_sdk() -> None:
    seen: set[str] = set()
    todo = list(HTTP_HALF)
    problems = []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for level, name, line in _runtime_imports(module):
            if level == 1 and name:  # the SDK's own: follow it
                todo.append(name.split(".")[0])
            elif level == 0 and name and name.split(".")[0] in sys.stdlib_module_names:
                continue
            elif not (level == 0 and name == "__future__"):
                problems.append(f"sdk/{module}.py:{line}: imports {'.' * level}{name}")
    assert problems == []
    assert {"_interface", "_headers", "_message", "_errors"} <= seen
