"""Is this an official-SDK project, where is its entry module, and can this Python run it?

An official ``fastly-compute`` project names its entry module in pyproject.toml
(``[tool.fastly-compute] entry = "main"``, a module name, not a file), or its entry file
binds ``HttpIncoming`` at the top level (a class, or ``WsgiHttpIncoming(app)``). Found by
reading the source: nothing of the app or the SDK is imported here.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..install_source import install_spec

DEFAULT_REQUIRES = ">=3.12"  # fastly-compute 0.1.x


@dataclass(frozen=True)
class OfficialEntry:
    """An official-SDK entry file, and why it was taken for one."""

    path: Path
    reason: str


def pyproject_entry(project_dir: Path) -> tuple[str, Path] | None:
    """``[tool.fastly-compute] entry`` of pyproject.toml: the module name and its file."""
    pyproject = project_dir / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    entry = data.get("tool", {}).get("fastly-compute", {}).get("entry")
    if not isinstance(entry, str) or not entry:
        return None
    parts = entry.split(".")
    for base in (project_dir, project_dir / "src"):
        candidate = base.joinpath(*parts).with_suffix(".py")
        if candidate.is_file():
            return entry, candidate
    return entry, project_dir.joinpath(*parts).with_suffix(".py")


def binds_http_incoming(path: Path) -> bool:
    """Whether the module's top level (including its ``if``/``try`` blocks) binds
    ``HttpIncoming``."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError):
        return False
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.ClassDef):
            if node.name == "HttpIncoming":
                return True
            continue  # a class's own attributes are not the module's
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "HttpIncoming" for t in targets):
                return True
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (a.asname or a.name) == "HttpIncoming" for a in node.names
        ):
            return True
        for attr in ("body", "orelse", "finalbody", "handlers"):  # if, try, with, for, while
            for child in getattr(node, attr, []):
                if isinstance(child, ast.ExceptHandler):
                    pending.extend(child.body)
                elif isinstance(child, ast.stmt):
                    pending.append(child)
    return False


def find_entry(project_dir: Path, explicit: Path | None) -> OfficialEntry | None:
    """The official-SDK entry of a project, or ``None`` for a ``compute_emu.sdk`` app.

    ``explicit`` (``--file`` or ``[scripts] entry``) wins; else pyproject.toml's
    ``[tool.fastly-compute] entry``; else ``src/main.py`` if it binds ``HttpIncoming``.
    """
    if explicit is not None:
        if binds_http_incoming(explicit):
            return OfficialEntry(explicit, f"{explicit.name} defines HttpIncoming")
        return None
    found = pyproject_entry(project_dir)
    if found is not None:
        name, path = found
        return OfficialEntry(path, f'pyproject.toml: [tool.fastly-compute] entry = "{name}"')
    default = project_dir / "src" / "main.py"
    if binds_http_incoming(default):
        return OfficialEntry(default, f"{default.name} defines HttpIncoming")
    return None


def _minimum(requires: str) -> tuple[int, int] | None:
    match = re.search(r">=\s*(\d+)\.(\d+)", requires)
    return (int(match[1]), int(match[2])) if match else None


def check_interpreter(project_dir: Path) -> None:
    """A clear error when this Python cannot run the SDK: too old, or no fastly-compute."""
    # for official apps alone: every serve reads this module
    from importlib.metadata import PackageNotFoundError, metadata

    installed = importlib.util.find_spec("fastly_compute") is not None
    requires = DEFAULT_REQUIRES
    if installed:
        with contextlib.suppress(PackageNotFoundError):
            requires = metadata("fastly-compute")["Requires-Python"] or requires
    minimum = _minimum(requires) or (3, 12)
    here = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < minimum:
        need = ".".join(map(str, minimum))
        raise UserError(
            f"this is an official fastly-compute SDK project, which needs Python {need} or newer "
            f"(fastly-compute requires Python {requires}); compute-emu is running on Python "
            f"{here} ({sys.executable}). Run compute-emu from a Python {need}+ environment: "
            f"python{need} -m venv .venv && .venv/bin/pip install {install_spec()} "
            "'fastly-compute>=0.1.3,<0.2' (plus your app's packages, e.g. flask; compute-emu "
            "is not on PyPI: this installs the one running now)"
        )
    if not installed:
        raise UserError(
            f"{project_dir}: this is an official fastly-compute SDK project, but the "
            f"fastly-compute package is not installed for {sys.executable}: "
            f"{sys.executable} -m pip install 'fastly-compute>=0.1.3,<0.2'"
        )
