"""``pkg/<name>.tar.gz``: the package ``fastly compute deploy`` uploads, laid out as the Fastly
CLI writes it (``<name>/fastly.toml`` and ``<name>/bin/main.wasm``, ``<name>`` being
fastly.toml's ``name`` with its spaces made dashes)."""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path


def package_name(name: str) -> str:
    """fastly.toml's ``name`` as the Fastly CLI names the package (spaces become dashes)."""
    return name.replace(" ", "-")


def package_path(project_dir: Path, name: str) -> Path:
    return project_dir / "pkg" / f"{package_name(name)}.tar.gz"


def is_current(package: Path, *sources: Path) -> bool:
    """Whether ``package`` exists and is newer than every one of ``sources``."""
    try:
        made = package.stat().st_mtime_ns
        return all(source.stat().st_mtime_ns <= made for source in sources)
    except OSError:
        return False


def write_package(project_dir: Path, name: str, wasm: Path) -> Path:
    """Write ``pkg/<name>.tar.gz`` (atomically) and return its path."""
    top = package_name(name)
    target = package_path(project_dir, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    now = int(time.time())
    # gzip's fastest level: 7.1 MB for a 19 MB component in ~1 s (as the Fastly CLI's own
    # package), against 6.3 MB in ~12 s at level 9
    with tarfile.open(partial, "w:gz", compresslevel=1) as archive:
        for folder in (top, f"{top}/bin"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, now
            archive.addfile(info)
        for source, inside in (
            (project_dir / "fastly.toml", "fastly.toml"),
            (wasm, "bin/main.wasm"),
        ):
            data = source.read_bytes()
            info = tarfile.TarInfo(f"{top}/{inside}")
            info.size, info.mode, info.mtime = len(data), 0o644, now
            archive.addfile(info, io.BytesIO(data))
    os.replace(partial, target)
    return target
