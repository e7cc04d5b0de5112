"""What each ``wit_world`` stub file defines, kept in the cache directory by its content hash.

``serve --wasm`` installs the bindings from the build environment's stubs at every start:
parsing the ~40 stub files (and again, at a request's first call of each interface, for the
annotations) took a third of the bindings' start-up. What a file defines depends on its content
alone, so it is kept as JSON under the file's SHA-256 (``stubs/<sha256>.json``) and parsed again
only for a new fastly-compute. A copy that cannot be read or written is parsed again, never an
error: the cache only saves time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from pathlib import Path

from ..official import stub_facts
from ..official.stub_facts import StubFunction
from .paths import CACHE_ENV, cache_dir

_lock = threading.Lock()
_read: dict[Path, dict[str, StubFunction]] = {}  # this process's, by the file's path


@functools.cache
def _kept_dir(setting: str | None) -> Path:
    return cache_dir() / "stubs"  # resolved once per setting, not once per stub file


def kept_path(source: bytes) -> Path:
    """Where the facts of a stub file with this content are kept."""
    directory = _kept_dir(os.environ.get(CACHE_ENV))
    return directory / f"{hashlib.sha256(source).hexdigest()}.json"


def _load(kept: Path) -> dict[str, StubFunction] | None:
    try:
        return stub_facts.from_json(json.loads(kept.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _keep(kept: Path, functions: dict[str, StubFunction]) -> None:
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
        partial.write_text(json.dumps(stub_facts.to_json(functions)), encoding="utf-8")
        os.replace(partial, kept)  # whole or not at all, for another serve reading it
    except OSError:
        pass


def read(path: Path) -> dict[str, StubFunction]:
    """What the stub file at ``path`` defines: from this process, the cache, or parsed (then
    kept). A :data:`compute_emu.official.world.Reader`."""
    with _lock:
        known = _read.get(path)
    if known is not None:
        return known
    source = path.read_bytes()
    kept = kept_path(source)
    functions = _load(kept)
    if functions is None:
        functions = stub_facts.read(source.decode("utf-8"))
        _keep(kept, functions)
    with _lock:
        _read[path] = functions
    return functions
