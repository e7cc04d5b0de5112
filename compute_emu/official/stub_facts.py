"""What a ``wit_world`` stub file says about its functions, read from its source once.

The SDK's stubs (``fastly_compute/testing/stubs/wit_world/imports/*.py``) define each WIT
function as a Python function that raises ``NotImplementedError``, with its parameter and result
annotations and a docstring naming the error it raises. :mod:`.world` needs to know which
functions are stubs (to put compute-emu's implementations in their place) and
``compute_emu/wasm/stubs.py`` needs their annotations (to convert values). Both read them here,
as plain values (strings), so a reader may keep them (``serve --wasm`` keeps them in its cache
directory by the stub file's content hash) instead of parsing the file again.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

VERSION = 1  # of the form below: a kept copy of another version is read again


@dataclass(frozen=True)
class StubFunction:
    """One function of a stub file (a module function, or a method as ``Class.method``)."""

    name: str
    stub: bool  # its body raises NotImplementedError (compute-emu supplies it)
    is_classmethod: bool
    params: tuple[str, ...]  # parameter names, ``self``/``cls`` included
    annotations: tuple[str | None, ...]  # each parameter's annotation, as source
    result: str | None  # the return annotation, as source
    doc: str | None


def _is_stub(node: ast.FunctionDef) -> bool:
    return any(
        isinstance(stmt, ast.Raise) and "NotImplementedError" in ast.unparse(stmt)
        for stmt in node.body
    )


def _function(name: str, node: ast.FunctionDef) -> StubFunction:
    def source(expression: ast.expr | None) -> str | None:
        return None if expression is None else ast.unparse(expression)

    return StubFunction(
        name=name,
        stub=_is_stub(node),
        is_classmethod=any(ast.unparse(d) == "classmethod" for d in node.decorator_list),
        params=tuple(a.arg for a in node.args.args),
        annotations=tuple(source(a.annotation) for a in node.args.args),
        result=source(node.returns),
        doc=ast.get_docstring(node),
    )


def read(source: str) -> dict[str, StubFunction]:
    """Every function of a stub file's ``source``, by ``"function"`` / ``"Class.method"``."""
    found: dict[str, StubFunction] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = _function(node.name, node)
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, ast.FunctionDef):
                    name = f"{node.name}.{member.name}"
                    found[name] = _function(name, member)
    return found


def to_json(functions: dict[str, StubFunction]) -> dict[str, Any]:
    """``functions`` as JSON values (see :func:`from_json`)."""
    return {
        "version": VERSION,
        "functions": [
            [f.name, f.stub, f.is_classmethod, list(f.params), list(f.annotations), f.result, f.doc]
            for f in functions.values()
        ],
    }


def from_json(data: Any) -> dict[str, StubFunction] | None:
    """What :func:`to_json` wrote; None if ``data`` is not that (another version, damaged)."""
    try:
        if data["version"] != VERSION:
            return None
        found = {}
        for name, stub, is_classmethod, params, annotations, result, doc in data["functions"]:
            found[name] = StubFunction(
                name, stub, is_classmethod, tuple(params), tuple(annotations), result, doc
            )
        return found
    except (KeyError, TypeError, ValueError):
        return None
