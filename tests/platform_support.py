"""Helpers for the platform tests: a project in tmp_path, and the native host's platform calls
over a Platform (with an event loop of their own, no server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import textwrap
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from compute_emu.cache.store import CacheStore
from compute_emu.errors import ManifestError
from compute_emu.manifest import load_manifest
from compute_emu.platform import Platform
from compute_emu.runtime.platform_calls import PlatformCalls
from compute_emu.sdk._host import bind_host

T = TypeVar("T")

HEAD = "manifest_version = 3\n"


def write_project(tmp_path: Path, toml: str, files: Mapping[str, str | bytes | Any] = ()) -> Path:
    """``fastly.toml`` (``HEAD`` + dedented ``toml``) and ``files`` (dicts/lists become JSON)."""
    (tmp_path / "fastly.toml").write_text(HEAD + textwrap.dedent(toml), encoding="utf-8")
    for name, content in dict(files).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
    return tmp_path


def build(
    tmp_path: Path,
    toml: str,
    files: Mapping[str, str | bytes | Any] = (),
    *,
    persist: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Platform:
    write_project(tmp_path, toml, files)
    return Platform.from_manifest(
        load_manifest(tmp_path), persist, environ={} if environ is None else environ
    )


def build_error(
    tmp_path: Path, toml: str, files: Mapping[str, str | bytes | Any] = (), **kwargs: Any
) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        build(tmp_path, toml, files, **kwargs)
    err = info.value
    assert "\n" not in str(err), str(err)
    assert err.path == str(tmp_path / "fastly.toml")
    return err


class LoopThread:
    """An event loop on a thread of its own: what the runtime's ``calls``/``loop`` give."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-loop")
        self._thread.start()

    def run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``func(*args)`` on the loop and wait for it."""

        async def call() -> T:
            return await func(*args)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=10)

    def notify(self, func: Callable[..., object], *args: Any) -> None:
        self.loop.call_soon_threadsafe(func, *args)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()
        self.loop.close()


@dataclass
class Services:
    """The parts of the runtime's per-server services the platform calls read."""

    platform: Platform
    loop: LoopThread
    cache: CacheStore = field(default_factory=CacheStore)


class PlatformHost(PlatformCalls):
    """The native host's platform calls, for one request, over ``services``."""

    def __init__(self, services: Services, request_id: int = 0) -> None:
        self.services = services
        self.calls = services.loop
        self.request_id = request_id


@contextlib.contextmanager
def platform_host(platform: Platform, request_id: int = 0) -> Iterator[PlatformHost]:
    """A :class:`PlatformHost` over ``platform`` with its own loop, stopped at the end."""
    loop = LoopThread()
    try:
        yield PlatformHost(Services(platform, loop), request_id)
    finally:
        loop.close()


@contextlib.contextmanager
def serving(platform: Platform) -> Iterator[Platform]:
    """Bind the platform calls over ``platform`` (as the runtime does around ``main()``)."""
    with platform_host(platform) as host, bind_host(host):  # type: ignore[arg-type]
        yield platform
