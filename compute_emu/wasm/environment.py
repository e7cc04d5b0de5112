"""The build environment: a Python >= 3.12 virtualenv with Fastly's ``fastly-compute`` SDK.

``compute-emu build`` runs the SDK's own toolchain (``fastly-compute-py build``, componentize-py
inside its wheel) from it, and resolves the app's third-party packages in its site-packages.
``compute-emu serve --wasm`` reads the WIT bindings' names and types from its
``fastly_compute/testing/stubs`` (the same ones ``compute_emu/official/`` serves official-SDK
apps with). compute-emu itself may run on Python 3.11: the environment is separate.

Found, in this order: ``--build-env`` (or ``$COMPUTE_EMU_BUILD_ENV``); the project's ``.venv``
if it has the toolchain (an official-SDK project made with uv); the environment compute-emu
runs in, if it has it; ``build-env`` in compute-emu's cache directory, which
``compute-emu build --setup-env`` makes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .paths import cache_dir

ENV_VAR = "COMPUTE_EMU_BUILD_ENV"
PYTHON_VAR = "COMPUTE_EMU_BUILD_PYTHON"
SDK_SPEC = "fastly-compute>=0.1.3,<0.2"
TOOL = "fastly-compute-py"
MINIMUM = (3, 12)


def default_path() -> Path:
    return cache_dir() / "build-env"


@dataclass(frozen=True)
class BuildEnv:
    """A virtualenv with ``fastly-compute-py``; ``reason`` says how it was found."""

    root: Path
    reason: str

    @property
    def tool(self) -> Path:
        return self.root / "bin" / TOOL

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def site_packages(self) -> Path | None:
        found = sorted((self.root / "lib").glob("python3*/site-packages"))
        return found[-1] if found else None

    def stubs(self) -> Path | None:
        """``fastly_compute/testing/stubs`` (the ``wit_world`` bindings as Python stubs)."""
        site = self.site_packages
        stubs = site / "fastly_compute" / "testing" / "stubs" if site else None
        return stubs if stubs is not None and (stubs / "wit_world").is_dir() else None

    def packages(self) -> str:
        """What a build may bundle from this environment, as one line: its Python (``python3.12``)
        and every installed distribution's metadata directory (``name-version.dist-info``),
        sorted. Two environments with the same packages give the same component, wherever
        they are."""
        site = self.site_packages
        if site is None:
            return ""
        found = sorted(p.name for p in site.iterdir() if p.suffix in (".dist-info", ".egg-info"))
        return " ".join([site.parent.name, *found])

    def sdk_version(self) -> str:
        """The installed fastly-compute's version (from its dist-info), or ``"?"``."""
        site = self.site_packages
        found = sorted(site.glob("fastly_compute-*.dist-info")) if site else []
        return (
            found[-1].name.removeprefix("fastly_compute-").removesuffix(".dist-info")
            if found
            else "?"
        )


def _usable(root: Path) -> bool:
    return (root / "bin" / TOOL).is_file() and (root / "bin" / "python").exists()


def candidates(project_dir: Path, explicit: Path | None) -> list[BuildEnv]:
    """Where a build environment is looked for, in order (see the module docstring)."""
    if explicit is None and os.environ.get(ENV_VAR):
        return [BuildEnv(Path(os.environ[ENV_VAR]).expanduser().absolute(), f"${ENV_VAR}")]
    if explicit is not None:
        return [BuildEnv(explicit.expanduser().absolute(), "--build-env")]
    return [
        BuildEnv(project_dir / ".venv", "the project's .venv"),
        BuildEnv(Path(sys.prefix), "compute-emu's own environment"),
        BuildEnv(default_path(), "compute-emu's build environment"),
    ]


def find(project_dir: Path, explicit: Path | None = None) -> BuildEnv:
    """The build environment, or a UserError saying how to make one."""
    found = candidates(project_dir, explicit)
    for env in found:
        if _usable(env.root):
            return env
    if len(found) == 1:  # named by the flag or the variable
        env = found[0]
        raise UserError(
            f"{env.reason} {env.root}: not a build environment (no bin/{TOOL}); make one "
            f"with: compute-emu build --setup-env --build-env {env.root}"
        )
    raise UserError(
        f"no build environment (Python >= 3.12 with {SDK_SPEC}) at {default_path()}: "
        "make it with: compute-emu build --setup-env"
    )


# -- making one ----------------------------------------------------------------------------
def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys, venv; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    return (int(parts[0]), int(parts[1])) if out.returncode == 0 and len(parts) == 2 else None


def find_python() -> str | None:
    """A Python >= 3.12 with venv: ``$COMPUTE_EMU_BUILD_PYTHON``, pyenv's newest 3.13/3.12,
    then python3.14, 3.13, 3.12 on PATH, then this interpreter."""
    if os.environ.get(PYTHON_VAR):
        return os.environ[PYTHON_VAR]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found: list[str] = []
    if pyenv.is_dir():
        for folder in sorted(pyenv.glob("3.1[2-9]*"), key=lambda p: p.name, reverse=True):
            found.append(str(folder / "bin" / "python"))
    found += [p for name in ("python3.14", "python3.13", "python3.12") if (p := shutil.which(name))]
    found.append(sys.executable)
    for python in found:
        version = _version(python)
        if version is not None and version >= MINIMUM:
            return python
    return None


def setup(root: Path, python: str | None, say: object = print) -> BuildEnv:
    """Make (or bring up to date) a build environment at ``root``: a venv of a Python >= 3.12
    with fastly-compute and uv (which ``fastly compute build`` looks for on PATH)."""
    chosen = python or find_python()
    if chosen is None:
        raise UserError(
            "no Python 3.12 or newer found for the build environment (fastly-compute needs "
            "it): install one (pyenv install 3.13, or apt-get install python3.13-venv), or "
            f"name one with {PYTHON_VAR}=/path/to/python3.13"
        )
    version = _version(chosen)
    if version is None or version < MINIMUM:
        raise UserError(f"{chosen}: not a Python 3.12 or newer with venv (fastly-compute needs it)")
    steps = []
    if not (root / "bin" / "python").exists():
        steps.append([chosen, "-m", "venv", str(root)])
    steps.append([str(root / "bin" / "python"), "-m", "pip", "install", "-q", SDK_SPEC, "uv"])
    for step in steps:
        say(f"  $ {' '.join(step)}")  # type: ignore[operator]
        if subprocess.run(step).returncode != 0:
            raise UserError(f"making the build environment failed at: {' '.join(step)}")
    return BuildEnv(root, "made now")
