"""``compute-emu build``: the app into ``bin/main.wasm`` and ``pkg/<name>.tar.gz``.

The entry is found as ``serve`` finds it (``--file``, ``[scripts] entry``, ``src/main.py``; an
official-SDK project's own entry). Its modules are scanned for what will not work on Compute
(:mod:`.scan`), staged in compute-emu's cache directory (:mod:`.stage`), and built with Fastly's
own toolchain from the build environment (:mod:`.environment`):
``fastly-compute-py build -e ENTRY -o main.wasm -v ENV``. A build whose inputs (the staged
files, the toolchain, the environment's packages) have not changed since the last one that
made the current ``bin/main.wasm`` is skipped.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import compute_emu

from ..errors import UserError
from ..manifest import load_manifest
from ..official.detect import find_entry
from . import cache_lock, environment, extensions, scan, stage
from .package import is_current, package_path, write_package
from .paths import builds_dir, file_digest

Say = Callable[[str], None]


@dataclass(frozen=True)
class BuildSettings:
    project_dir: Path
    env: str | None = None  # --env: fastly.ENV.toml
    file: Path | None = None  # --file: the entry
    build_env: Path | None = None  # --build-env
    force: bool = False  # --force: build even when nothing changed


@dataclass(frozen=True)
class BuildResult:
    wasm: Path
    package: Path
    seconds: float
    skipped: bool  # nothing had changed
    warnings: tuple[scan.Finding, ...]


def find_source(project_dir: Path, explicit: Path | None) -> stage.Source:
    """The entry (as ``serve`` finds it) and the folder its modules are imported from."""
    official = find_entry(project_dir, explicit)
    if official is not None:
        entry = official.path
        module = entry.stem
        root = entry.parent
        from ..official.detect import pyproject_entry

        named = pyproject_entry(project_dir) if explicit is None else None
        if named is not None and named[1] == entry:
            module = named[0]
            for _ in range(module.count(".")):
                root = root.parent
        return stage.Source(root, module, entry, official=True)
    entry = explicit if explicit is not None else project_dir / "src" / "main.py"
    if not entry.is_file():
        raise UserError(
            f"{entry}: app entry file not found (set [scripts] entry in fastly.toml, pass "
            "--file, or create src/main.py)"
        )
    return stage.Source(entry.parent, entry.stem, entry, official=False)


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def app_modules(source: stage.Source) -> list[Path]:
    """The entry and the modules of the source root it imports, transitively."""
    seen: dict[Path, None] = {}
    pending = [source.entry]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen[path] = None
        try:
            tree = scan.ast.parse(path.read_bytes(), str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        for item in scan.imports_of(tree):
            parts = item.module.split(".")
            for end in range(1, len(parts) + 1):  # a.b.c: a, a.b, a.b.c
                found = _module_file(source.root, ".".join(parts[:end]))
                if found is not None:
                    pending.append(found)
    return list(seen)


def check(source: stage.Source, site: Path | None, project_dir: Path) -> list[scan.Finding]:
    """Scan the app's own modules; a UserError listing every fatal finding."""
    roots = [source.root] + ([site] if site is not None else [])
    native = functools.cache(lambda name: extensions.native_module(name, roots))
    findings: list[scan.Finding] = []
    for path in app_modules(source):
        shown = os.path.relpath(path, project_dir)
        findings += scan.scan(shown, path.read_bytes(), native)
    if not source.official:
        tree = scan.ast.parse(source.entry.read_bytes())
        if "main" not in scan.top_level_names(tree):
            shown = os.path.relpath(source.entry, project_dir)
            findings.append(
                scan.Finding(
                    shown,
                    1,
                    "no main() at the top level (the component runs main() per request)",
                    fatal=True,
                )
            )
    if not source.official:
        findings += sdk_problems()
    fatal = [f for f in findings if f.fatal]
    if fatal:
        lines = "\n".join(f"  {f}" for f in findings)
        raise UserError(f"the app cannot be built for Compute:\n{lines}")
    return findings


def sdk_problems() -> list[scan.Finding]:
    """What keeps the copy of ``compute_emu.sdk`` from loading in a component: no Wasm host,
    imports of the rest of compute-emu, modules Wasm CPython lacks (all errors)."""
    found: list[scan.Finding] = []
    files = dict(stage.sdk_files())
    if not any(relative.endswith(f"sdk{os.sep}{stage.WIT_HOST}.py") for relative in files.values()):
        message = (
            f"this compute-emu's SDK has no Wasm host (compute_emu.sdk.{stage.WIT_HOST}): "
            "compute_emu.sdk apps cannot be built with it"
        )
        found.append(scan.Finding("compute_emu/sdk", 1, message, fatal=True))
    for path, relative in files.items():
        source = path.read_bytes()
        module = relative.removesuffix(".py").replace(os.sep, ".")
        is_package = module.endswith(".__init__")
        module = module.removesuffix(".__init__")
        tree = scan.ast.parse(source, relative)
        for line, name in scan.foreign_imports(tree, module, is_package, "compute_emu.sdk"):
            message = f"imports {name}, which is not part of compute_emu.sdk (not in the component)"
            found.append(scan.Finding(relative, line, message, fatal=True))
        found += [f for f in scan.scan(relative, source) if f.fatal]
        for line, name, why in scan.missing_attributes(tree):  # the SDK runs every request
            message = f"uses {name}: AttributeError in the component ({why})"
            found.append(scan.Finding(relative, line, message, fatal=True))
    return found


BUILDS_KEPT = 8  # builds kept in the cache (each ~20 MB), the least recently used dropped
WAITING = "  waiting for another build of the same sources to finish"


def _cached_output(build_dir: Path) -> str | None:
    """The SHA-256 of the component a cached build made, if it is there whole."""
    try:
        record = json.loads((build_dir / "build.json").read_text())
    except (OSError, ValueError):
        return None
    output = record.get("output")
    return output if isinstance(output, str) and (build_dir / "main.wasm").is_file() else None


def _prune(builds: Path, keep: Path) -> None:
    """Drop the least recently used builds beyond ``BUILDS_KEPT`` (not one another process
    is building or taking now)."""
    try:
        found = sorted(
            (p for p in builds.iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        return
    for old in found[BUILDS_KEPT:]:
        if old != keep:
            with cache_lock.unless_held(old) as free:
                if free:
                    shutil.rmtree(old, ignore_errors=True)


def _install(output: Path, wasm: Path) -> None:
    """Put a built component at ``wasm`` in one step (a server watching it never sees half)."""
    wasm.parent.mkdir(parents=True, exist_ok=True)
    partial = wasm.with_name(f".{wasm.name}.{os.getpid()}.part")
    shutil.copyfile(output, partial)
    os.replace(partial, wasm)


def _run_tool(argv: list[str], cwd: Path, say: Say) -> None:
    """The official build, its lines passed on as they come."""
    say(f"  $ {' '.join(argv)}")
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    except OSError as exc:
        raise UserError(f"cannot run {argv[0]}: {exc.strerror}") from None
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.strip():
            say(f"  | {line.rstrip()}")
    if process.wait() != 0:
        tail = "\n".join(f"  {ln}" for ln in lines[-15:])
        raise UserError(f"the official build failed (exit {process.returncode}):\n{tail}")


def build(settings: BuildSettings, say: Say) -> BuildResult:
    """Build the project; see the module docstring."""
    started = time.perf_counter()
    project_dir = settings.project_dir
    manifest = load_manifest(project_dir, settings.env)
    explicit = settings.file if settings.file is not None else manifest.scripts.entry
    source = find_source(project_dir, explicit)
    kind = "official fastly-compute" if source.official else "compute_emu.sdk"
    say(f"building {os.path.relpath(source.entry, project_dir)} ({kind} app) for Compute")
    env = environment.find(project_dir, settings.build_env)
    say(f"  build environment: {env.root} ({env.reason}; fastly-compute {env.sdk_version()})")
    findings = check(source, env.site_packages, project_dir)
    for finding in findings:
        say(f"  {finding}")
    files = stage.staged(source)
    facts = (
        compute_emu.__version__,
        env.sdk_version(),
        env.packages(),  # what is installed, not where: another checkout shares the builds
        stage.EXPORT_MODULE if not source.official else source.module,
    )
    inputs = stage.digest(files, *facts)
    build_dir = builds_dir() / inputs[:32]  # builds are kept by what went into them
    wasm = project_dir / "bin" / "main.wasm"
    output = build_dir / "main.wasm"
    package = package_path(project_dir, manifest.name)
    with cache_lock.held(build_dir, lambda: say(WAITING)):
        made = _cached_output(build_dir)
        if made is not None and not settings.force:
            os.utime(build_dir)  # recently used
            if wasm.is_file() and file_digest(wasm) == made:
                if not is_current(package, wasm, manifest.path):
                    write_package(project_dir, manifest.name, wasm)
                say(
                    f"  {wasm.relative_to(project_dir)} is up to date (nothing changed; --force "
                    "builds)"
                )
                took = time.perf_counter() - started
                return BuildResult(wasm, package, took, True, tuple(findings))
            say("  the same sources were built before: the component is taken from the build cache")
        else:
            shutil.rmtree(build_dir, ignore_errors=True)
            staging = build_dir / "stage"
            stage.write(files, staging)
            entry = source.module if source.official else stage.EXPORT_MODULE
            argv = [str(env.tool), "build", "-e", entry, "-o", str(output), "-v", str(env.root)]
            _run_tool(argv, staging, say)
            record = {"output": file_digest(output), "python": sys.version.split()[0]}
            (build_dir / "build.json").write_text(json.dumps(record))
            _prune(build_dir.parent, build_dir)
        _install(output, wasm)
    write_package(project_dir, manifest.name, wasm)
    took = time.perf_counter() - started
    size = wasm.stat().st_size / 1e6
    say(
        f"built {wasm.relative_to(project_dir)} ({size:.1f} MB) and "
        f"{package.relative_to(project_dir)} in {took:.1f} s"
    )
    return BuildResult(wasm, package, took, False, tuple(findings))
