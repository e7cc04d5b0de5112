"""The build's input, laid out away from the user's tree: the app's modules, and for a
``compute_emu.sdk`` app a copy of the SDK and the component's export.

The official toolchain puts its working directory first on the component's ``sys.path`` (the
build environment's site-packages second), so the staging directory holds exactly what the
component may import of the project: the ``.py`` files under the entry's source root (the
entry's folder, or the folder a dotted entry module is found from). A ``compute_emu.sdk`` app
also gets ``compute_emu/sdk`` (only the SDK package and a ``compute_emu/__init__.py`` that
imports nothing, never the rest of compute-emu) and a generated module whose ``HttpIncoming``
runs ``main()`` per request through the SDK's Wasm host.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import compute_emu

EXPORT_MODULE = "compute_emu_export"
WIT_HOST = "_wit_host"  # compute_emu.sdk's Wasm host, which the export calls
SKIPPED_DIRS = {"__pycache__", "node_modules", "bin", "pkg", "build", "dist", "site-packages"}

EXPORT_SOURCE = '''"""The component's export, written by `compute-emu build`: Fastly calls
HttpIncoming.handle once per request; it runs the app's main() through compute_emu.sdk's Wasm
host (an exception that escapes main() is answered with a 500, as `compute-emu serve` does)."""

from wit_world import exports

from compute_emu.sdk.{wit_host} import serve_request
from {module} import main


class HttpIncoming(exports.HttpIncoming):
    def handle(self, request, body):
        serve_request(main, request, body)
'''

PACKAGE_INIT = '''"""compute-emu's SDK as built into a Fastly component (compute_emu.sdk only)."""

__version__ = "{version}"
'''


@dataclass(frozen=True)
class Source:
    """Where the app's modules are found, and its entry module's name there."""

    root: Path
    module: str
    entry: Path
    official: bool  # an official fastly-compute app: its entry module is the export


def _skipped(path: Path) -> bool:
    return path.name.startswith(".") or path.name in SKIPPED_DIRS or (path / "pyvenv.cfg").exists()


def app_files(root: Path) -> Iterator[Path]:
    """The ``.py`` files under ``root`` (hidden folders, virtualenvs and build output left out)."""
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for path in entries:
            if path.is_dir():
                if not _skipped(path):
                    pending.append(path)
            elif path.suffix == ".py" and path.is_file():
                yield path


def sdk_files() -> Iterator[tuple[Path, str]]:
    """``(file, staged relative path)`` of the ``compute_emu.sdk`` package."""
    package = Path(compute_emu.__file__).parent / "sdk"
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path, str(Path("compute_emu") / "sdk" / path.relative_to(package))


def staged(source: Source) -> dict[str, bytes]:
    """Every file of the staging directory: relative path -> content."""
    files: dict[str, bytes] = {}
    for path in app_files(source.root):
        files[str(path.relative_to(source.root))] = path.read_bytes()
    if not source.official:
        for path, relative in sdk_files():
            files[relative] = path.read_bytes()
        init = PACKAGE_INIT.format(version=compute_emu.__version__)
        files[str(Path("compute_emu") / "__init__.py")] = init.encode()
        export = EXPORT_SOURCE.format(module=source.module, wit_host=WIT_HOST)
        files[f"{EXPORT_MODULE}.py"] = export.encode()
    return files


def digest(files: dict[str, bytes], *extra: str) -> str:
    """A hash of the staged files and ``extra`` facts (tool version, ...)."""
    hasher = hashlib.sha256()
    for fact in extra:
        hasher.update(fact.encode() + b"\0")
    for relative in sorted(files):
        content = files[relative]
        hasher.update(f"{relative}\0{len(content)}\0".encode())
        hasher.update(content)
    return hasher.hexdigest()


def write(files: dict[str, bytes], directory: Path) -> None:
    """Make ``directory`` hold exactly ``files``."""
    shutil.rmtree(directory, ignore_errors=True)
    for relative, content in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
