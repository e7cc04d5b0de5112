"""A built component, ready to instantiate: compiled once per content, linked once.

Compiling a 19 MB component takes wasmtime (Cranelift) 13-50 s; the compiled artifact is kept
in compute-emu's cache directory under the component file's SHA-256 (and wasmtime's version),
so the next start, or a ``serve --wasm`` of the same build elsewhere, loads it in ~0.02 s.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import wasmtime
from wasmtime import Engine, WasmtimeError
from wasmtime import component as wc

from ..errors import UserError
from . import imports
from .paths import cache_dir, file_digest

EXPORT = "fastly:compute/http-incoming@0.1.0"
HANDLE = "handle"

_engine: Engine | None = None


def engine() -> Engine:
    """The process's one wasmtime engine (compiled code is shared by every instance)."""
    global _engine
    if _engine is None:
        _engine = Engine()
    return _engine


@functools.cache
def wasmtime_version() -> str:
    """wasmtime-py's version, from its dist-info next to it (importlib.metadata, which scans
    every path entry and imports the email package, only if that is not there)."""
    package = Path(wasmtime.__file__).parent
    found = sorted(package.parent.glob("wasmtime-*.dist-info"))
    if len(found) == 1:
        return found[0].name.removeprefix("wasmtime-").removesuffix(".dist-info")
    import importlib.metadata

    return importlib.metadata.version("wasmtime")


def artifact_path(digest: str) -> Path:
    """Where the compiled form of the component with this SHA-256 is kept."""
    version = wasmtime_version()
    return cache_dir() / "compiled" / f"{digest}-wasmtime{version}-{platform.machine()}.cwasm"


@dataclass
class Loaded:
    """A component compiled and linked: what each request instantiates."""

    path: Path
    digest: str
    component: wc.Component
    linker: wc.Linker
    handle: wc.ExportIndex
    request_type: int  # host resource ids of handle()'s parameters
    body_type: int
    compiled_in: float | None  # seconds, or None when it came from the cache
    loaded_in: float


def _compile(path: Path, digest: str) -> tuple[wc.Component, float | None]:
    cached = artifact_path(digest)
    if cached.is_file():
        try:
            return wc.Component.deserialize_file(engine(), str(cached)), None
        except WasmtimeError:
            cached.unlink(missing_ok=True)  # from another wasmtime build: compile again
    started = time.perf_counter()
    try:
        component = wc.Component.from_file(engine(), path)
    except WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
        raise UserError(f"{path}: not a WebAssembly component wasmtime can load: {first}") from None
    took = time.perf_counter() - started
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(component.serialize())
    os.replace(partial, cached)
    return component, took


def load(path: Path, digest: str | None = None) -> Loaded:
    """Compile (or load from the cache) and link the component at ``path`` (whose SHA-256 is
    ``digest``, if the caller has it already)."""
    started = time.perf_counter()
    if not path.is_file():
        raise UserError(f"{path}: no such component (build it with: compute-emu build)")
    digest = digest or file_digest(path)
    component, compiled_in = _compile(path, digest)
    linker, ids = imports.link(engine(), component)
    exports = component.type.exports(engine())
    export = exports.get(EXPORT)
    handle = None
    if export is not None and isinstance(export.ty, wc.ComponentInstanceType):
        instance_index = component.get_export_index(EXPORT)
        handle = component.get_export_index(HANDLE, instance_index) if instance_index else None
        func = export.ty.exports(engine()).get(HANDLE)
    if handle is None or export is None:
        names = ", ".join(exports) or "nothing"
        raise UserError(
            f"{path}: not a Fastly Compute component: it does not export {EXPORT} (it exports "
            f"{names})"
        )
    assert func is not None and isinstance(func.ty, wc.FuncType)
    (_, request), (_, body) = func.ty.params
    assert isinstance(request, wc.OwnType) and isinstance(body, wc.OwnType)
    return Loaded(
        path=path,
        digest=digest,
        component=component,
        linker=linker,
        handle=handle,
        request_type=ids(request.ty),
        body_type=ids(body.ty),
        compiled_in=compiled_in,
        loaded_in=time.perf_counter() - started,
    )
