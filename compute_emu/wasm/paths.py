"""Where compute-emu keeps what it builds and compiles for the user (outside their project)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

CACHE_ENV = "COMPUTE_EMU_CACHE_DIR"


def cache_dir() -> Path:
    """``$COMPUTE_EMU_CACHE_DIR``, else the user cache directory's ``compute-emu``
    (``$XDG_CACHE_HOME`` or ``~/.cache``; ``~/Library/Caches`` on macOS)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "compute-emu"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "compute-emu"


def builds_dir() -> Path:
    """Where builds are kept, each under a hash of its inputs (staged sources, toolchain)."""
    return cache_dir() / "builds"


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
