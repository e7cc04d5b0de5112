"""Watching the project while it is served (watchfiles: the OS's file events, no polling).

- A Python file saved with a syntax error is reported at once (the next request would only
  show it then); a fix is reported too. The app itself reloads on the next request, as before.
- A store changed in fastly.toml (or a file a store reads) is applied: the stores are loaded
  again and swapped in whole (requests under way keep theirs; KV writes made while serving
  are dropped unless --kv-persist keeps them on disk). A broken edit keeps the old stores.
- A change to ``[local_server.pushpin]`` restarts the server, keeping its listening socket
  (compute_emu/restart.py).

Backend changes are picked up by ``Server._watch_manifest`` (compute_emu/serve.py). With
``ServeSettings.watch_manifest`` off (compute_emu.testing), only Python files are followed.
The watcher is given what it reads of the server, and what it may do to it, as a
:class:`WatchedProject`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .errors import UserError
from .manifest import Manifest, load_manifest
from .platform import Platform
from .restart import Restart, keep_listening_socket

if TYPE_CHECKING:
    from .log import RequestLog


@dataclass(frozen=True)
class WatchedProject:
    """What the watcher reads of a running server, and the one change it makes to it."""

    log: RequestLog
    manifest: Manifest  # as the server started with it
    project_dir: Path  # where fastly.toml is loaded from (``--dir``)
    env: str | None  # ``--env``
    kv_persist: Path | None  # ``--kv-persist``
    follow_manifest: bool  # False: only Python files are followed
    app_dir: Path
    address: tuple[str, int] | None  # the listening address (kept across a restart)
    pushpin_of: Callable[[Manifest], object]  # Pushpin's settings for a manifest
    apply_platform: Callable[[Platform], None]  # swap new stores in, whole


_NOT_STORES = ("backends", "pushpin")
WATCH_TICK_MS = 1000  # the watch thread's turn when nothing changes


def stores_of(manifest: Manifest) -> dict[str, Any]:
    """The store sections of ``[local_server]`` (everything but backends and Pushpin)."""
    return {k: v for k, v in manifest.local_server.items() if k not in _NOT_STORES}


def syntax_error(path: Path) -> str | None:
    """``path:line:col: syntax error: msg`` if the Python file does not compile, else None."""
    try:
        source = path.read_bytes()
    except OSError:
        return None  # deleted or unreadable: the next request says so
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno}" + (f":{exc.offset}" if exc.offset else "")
        return f"{where}: syntax error: {exc.msg}"
    except ValueError as exc:  # a NUL byte
        return f"{path}: {exc}"
    return None


def store_files(manifest: Manifest) -> set[Path]:
    """The files the stores of ``manifest`` read (every string value of a store section
    taken as a path relative to the project: a few extra names cost nothing)."""
    found: set[Path] = set()

    def walk(value: object) -> None:
        if isinstance(value, str) and value and "\0" not in value and len(value) < 4096:
            found.add((manifest.project_dir / value).resolve())
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(stores_of(manifest))
    return found


class ProjectWatcher:
    """Follows the files of one served project; see the module docstring."""

    def __init__(self, project: WatchedProject) -> None:
        self.project = project
        self.log: RequestLog = project.log
        self.manifest = project.manifest  # the one whose stores are in force
        self.broken: set[Path] = set()  # Python files saved with a syntax error
        self.follow_manifest = project.follow_manifest
        self.files = store_files(self.manifest) if self.follow_manifest else set()

    def changed(self, paths: Iterable[Path]) -> None:
        """React to the files in ``paths`` having changed (created, modified, deleted)."""
        manifest_path = self.manifest.path.resolve()
        manifest_changed = stores_changed = False
        for path in paths:
            if path.suffix == ".py":
                self._python_saved(path)
            elif path == manifest_path and self.follow_manifest:
                manifest_changed = True
            elif path in self.files:
                stores_changed = True
        if manifest_changed or stores_changed:
            self._reload(manifest_changed)

    def wanted(self, change: object, path: str) -> bool:
        """The watch filter: Python files, fastly.toml and the stores' files."""
        return (
            path.endswith(".py")
            or Path(path).resolve() in self.files
            or (self.follow_manifest and Path(path).resolve() == self.manifest.path.resolve())
        )

    def _python_saved(self, path: Path) -> None:
        problem = syntax_error(path)
        if problem is not None:
            self.broken.add(path)
            self.log.error(f"{problem} (saved just now; requests fail until it is fixed)")
        elif path in self.broken:
            self.broken.discard(path)
            self.log.info(f"{os.path.relpath(path, self.project.manifest.project_dir)} fixed")

    def _reload(self, manifest_changed: bool) -> None:
        project = self.project
        try:
            manifest = load_manifest(project.project_dir, project.env)
        except UserError:
            return  # _watch_manifest reports a broken fastly.toml
        name = manifest.path.name
        if manifest_changed and self._pushpin_changed(manifest):
            self._restart(name)
        if manifest_changed and stores_of(manifest) == stores_of(self.manifest):
            self.manifest = manifest  # nothing of the stores changed
            return
        try:
            platform = Platform.from_manifest(manifest, project.kv_persist)
        except UserError as exc:
            self.log.error(f"{exc} ({name} changed; keeping the previous stores)")
            return
        for warning in platform.warnings:
            self.log.warning(warning)
        project.apply_platform(platform)  # swapped whole: requests under way keep theirs
        self.manifest = manifest
        self.files = store_files(manifest)
        kept = "kept in " + str(project.kv_persist) if project.kv_persist else "dropped"
        self.log.info(f"{name} changed: stores reloaded (KV writes made while serving {kept})")

    def _pushpin_changed(self, manifest: Manifest) -> bool:
        pushpin_of = self.project.pushpin_of
        now = pushpin_of(manifest), manifest.pushpin.pushpin_path
        before = pushpin_of(self.manifest), self.manifest.pushpin.pushpin_path
        return now != before

    def _restart(self, name: str) -> None:
        """Pushpin's settings changed: restart, keeping the listening socket (or say to)."""
        address = self.project.address
        if address is None or keep_listening_socket(address) is None:
            self.log.warning(f"{name} changed [local_server.pushpin]: restart compute-emu")
            return
        self.log.info(
            f"{name} changed [local_server.pushpin]: restarting (the listening socket stays "
            "open; in-memory KV writes start afresh)"
        )
        raise Restart(name)

    async def run(self) -> None:
        """Watch until cancelled."""
        from watchfiles import DefaultFilter, awatch

        default = DefaultFilter()  # skips .git, .venv, caches, editor swap files

        def wanted(change: Any, path: str) -> bool:
            return default(change, path) and self.wanted(change, path)

        roots = {self.project.manifest.project_dir.resolve(), self.project.app_dir}
        stop = anyio.Event()  # the watcher thread checks it: cancelling returns at once

        async def follow() -> None:
            first = True
            try:
                async for changes in awatch(
                    *roots,
                    watch_filter=wanted,
                    stop_event=stop,
                    debounce=400,
                    step=30,
                    rust_timeout=WATCH_TICK_MS,
                    yield_on_timeout=True,  # the first turn comes even if nothing changed
                ):
                    paths = {Path(p).resolve() for _, p in changes}
                    if first and self.follow_manifest:
                        # The OS watch is in place only now: fastly.toml is compared once
                        # with the manifest in force, so an edit made since it was loaded
                        # (e.g. just as the server announced itself) is not lost.
                        paths.add(self.manifest.path.resolve())
                    first = False
                    if paths:
                        self.changed(sorted(paths))
            except (OSError, RuntimeError) as exc:  # e.g. out of inotify watches
                self.log.warning(
                    f"not watching the project's files ({exc}): syntax errors "
                    "show at the next request, store changes need a restart"
                )

        async with anyio.create_task_group() as tg:
            tg.start_soon(follow)
            try:
                await anyio.sleep_forever()
            finally:
                stop.set()


async def watch_project(project: WatchedProject) -> None:
    """The watcher task of a running server."""
    await ProjectWatcher(project).run()
