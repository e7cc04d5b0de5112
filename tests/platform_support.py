"""Helpers for the platform tests: a project in tmp_path and a fake host carrying a Platform."""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from compute_emu.errors import ManifestError
from compute_emu.manifest import load_manifest
from compute_emu.platform import Platform
from compute_emu.sdk._host import bind_host

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


class FakeHost:
    """Just enough of the Host protocol for the store SDK."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform


@contextlib.contextmanager
def serving(platform: Platform) -> Iterator[Platform]:
    """Bind a fake host carrying ``platform`` (as the runtime does around ``main()``)."""
    with bind_host(FakeHost(platform)):  # type: ignore[arg-type]
        yield platform
