"""Files named by fastly.toml: special files are refused without blocking, sizes are capped,
and deeply nested documents are a one-line error (never a hang, a RecursionError or a read
until memory runs out)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from compute_emu.errors import ManifestError
from compute_emu.manifest import load_manifest
from compute_emu.platform import KVStore, Platform

DEADLINE = 5.0  # seconds: far more than any of these takes; only "it did not hang"
DATA_FILE_MAX_BYTES = 16 * 1024 * 1024  # the documented caps
ENV_FILE_MAX_BYTES = 1024 * 1024


def finishes(call: Callable[[], Any]) -> Any:
    """``call()``'s result (or exception) if it returns within DEADLINE; else the test fails."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"still running after {DEADLINE} s (blocked?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO; afterwards a reader stuck on it (a failing test) is released by a writer."""
    path = tmp_path / "fifo"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # ENXIO: no reader is waiting, nothing to release
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def sparse(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


def project(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "fastly.toml").write_text("manifest_version = 3\n" + toml)
    return tmp_path


def manifest_error(call: Callable[[], Any]) -> str:
    with pytest.raises(ManifestError) as info:
        finishes(call)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- read_file ---------------------------------------------------------------------------


def test_the_caps_are_the_documented_ones():
    from compute_emu.manifest import files

    assert files.DATA_FILE_MAX_BYTES == DATA_FILE_MAX_BYTES
    assert files.ENV_FILE_MAX_BYTES == ENV_FILE_MAX_BYTES
    assert files.MAX_NESTING == 100
    assert issubclass(files.FileRefused, OSError)  # callers report it like any read error


def test_read_file_refuses_special_files_and_reads_regular_ones(tmp_path: Path, fifo: Path):
    from compute_emu.manifest.files import FileRefused, read_file

    (tmp_path / "ok").write_bytes(b"data")
    assert read_file(tmp_path / "ok", 4) == b"data"
    for path, kind in (
        (fifo, "a FIFO"),
        ("/dev/zero", "a character device"),
        (tmp_path, "a directory"),
    ):
        with pytest.raises(FileRefused, match=f"not a regular file \\(it is {kind}\\)"):
            finishes(lambda path=path: read_file(path, 1024))
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "missing", 1024)


def test_read_file_caps_the_size_before_reading(tmp_path: Path):
    from compute_emu.manifest.files import FileRefused, read_file

    at_cap = sparse(tmp_path / "at", 1000)
    assert len(read_file(at_cap, 1000)) == 1000
    with pytest.raises(FileRefused, match="1,001 bytes is over the "):
        read_file(sparse(tmp_path / "over", 1001), 1000)
    assert len(read_file(sparse(tmp_path / "big", 5000), None)) == 5000  # no cap


# --- the manifest and its env file ----------------------------------------------------------


def test_a_fifo_env_file_does_not_hang_start_up(tmp_path: Path, fifo: Path):
    manifest = load_manifest(project(tmp_path, '[scripts]\nenv_file = "fifo"\n'))
    message = manifest_error(manifest.env)
    assert message.endswith(
        f'scripts.env_file: cannot read env file "{fifo}": not a regular file (it is a FIFO)'
    )


def test_a_path_with_a_nul_byte_is_a_one_line_error(tmp_path: Path):
    """Found by the fuzzer: os.stat raises ValueError (not OSError) for such a path; it is
    refused when fastly.toml is read."""
    path = project(tmp_path, '[scripts]\nenv_file = "a\\u0000b"\n')
    message = manifest_error(lambda: load_manifest(path))
    assert "scripts.env_file" in message and "NUL" in message and "\n" not in message


def test_env_files_are_capped_at_1_mib(tmp_path: Path):
    (tmp_path / "ok.env").write_text("A=1\n" * (ENV_FILE_MAX_BYTES // 4))  # exactly the cap
    assert load_manifest(project(tmp_path, '[scripts]\nenv_file = "ok.env"\n')).env() == {"A": "1"}
    sparse(tmp_path / "big.env", ENV_FILE_MAX_BYTES + 1)
    manifest = load_manifest(project(tmp_path, '[scripts]\nenv_file = "big.env"\n'))
    assert "1,048,577 bytes is over the 1 MiB limit for env files" in manifest_error(manifest.env)


def test_a_manifest_that_is_a_fifo_or_a_directory(tmp_path: Path):
    os.mkfifo(tmp_path / "fastly.toml")
    try:
        message = manifest_error(lambda: load_manifest(tmp_path))
        assert (
            message == f"{tmp_path / 'fastly.toml'}: cannot read: not a regular file (it is a FIFO)"
        )
    finally:
        with contextlib.suppress(OSError):
            os.close(os.open(tmp_path / "fastly.toml", os.O_WRONLY | os.O_NONBLOCK))
    (tmp_path / "fastly.toml").unlink()
    (tmp_path / "fastly.toml").mkdir()
    assert manifest_error(lambda: load_manifest(tmp_path)).endswith("(it is a directory)")


def test_a_certificate_file_of_dev_zero_is_not_read(tmp_path: Path):
    toml = (
        '[local_server.backends.origin]\nurl = "https://127.0.0.1/"\n'
        'ca_certificate = { file = "/dev/zero" }\n'
    )
    message = manifest_error(lambda: load_manifest(project(tmp_path, toml)))
    assert message.endswith(
        'cannot read "/dev/zero": not a regular file (it is a character device)'
    )


@pytest.mark.parametrize("depth", [101, 1000, 100_000])
def test_deeply_nested_arrays_are_a_one_line_error(tmp_path: Path, depth: int):
    (tmp_path / "fastly.toml").write_text("a = " + "[" * depth + "]" * depth + "\n")
    message = manifest_error(lambda: load_manifest(tmp_path))
    assert message == (
        f"{tmp_path / 'fastly.toml'}:1:105: invalid TOML: arrays and tables nested more than "
        "100 levels deep"
    )


def test_nesting_up_to_the_limit_loads(tmp_path: Path):
    (tmp_path / "fastly.toml").write_text("a = " + "[" * 99 + "]" * 99 + "\n")  # 100 with the root
    assert load_manifest(tmp_path).local_server == {}


# --- the platform's stores ------------------------------------------------------------------


def platform(tmp_path: Path, toml: str) -> Platform:
    return Platform.from_manifest(load_manifest(project(tmp_path, toml)), environ={})


@pytest.mark.parametrize(
    "toml",
    [
        '[local_server.config_stores.s]\nformat = "json"\nfile = "{f}"\n',
        '[local_server]\nkv_stores.s = [{{ key = "k", file = "{f}" }}]\n',
        '[local_server]\nsecret_stores.s = [{{ key = "k", file = "{f}" }}]\n',
        '[local_server.geolocation]\nformat = "json"\nfile = "{f}"\n',
        '[local_server.device_detection]\nformat = "json"\nfile = "{f}"\n',
        '[local_server.acls]\ns = "{f}"\n',
    ],
    ids=["config_store", "kv_store", "secret_store", "geolocation", "device_detection", "acl"],
)
def test_store_files_refuse_fifos_devices_and_files_over_16_mib(
    tmp_path: Path, fifo: Path, toml: str
):
    big = sparse(tmp_path / "big", DATA_FILE_MAX_BYTES + 1)
    for path, problem in (
        (fifo, "not a regular file (it is a FIFO)"),
        ("/dev/zero", "not a regular file (it is a character device)"),
        (big, "16,777,217 bytes is over the 16 MiB limit for files named in fastly.toml"),
    ):
        message = manifest_error(lambda path=path: platform(tmp_path, toml.format(f=path)))
        assert message.endswith(f'cannot read "{path}": {problem}'), message


def test_a_geolocation_file_swapped_for_a_fifo_fails_the_lookup_without_blocking(
    tmp_path: Path, fifo: Path
):
    (tmp_path / "geo.json").write_text('{"192.0.2.1": {"city": "x"}}')
    geo = platform(
        tmp_path, '[local_server.geolocation]\nformat = "json"\nfile = "geo.json"\n'
    ).geolocation
    ip = ipaddress.ip_address("192.0.2.1")
    assert geo.lookup(ip) == {"city": "x"}
    os.replace(fifo, tmp_path / "geo.json")  # re-read on every lookup, as Viceroy does
    assert "not a regular file (it is a FIFO)" in manifest_error(lambda: geo.lookup(ip))


def test_deeply_nested_json_is_a_one_line_error(tmp_path: Path):
    (tmp_path / "s.json").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    toml = '[local_server.config_stores.s]\nformat = "json"\nfile = "s.json"\n'
    assert "nested more than 100 levels deep" in manifest_error(lambda: platform(tmp_path, toml))


def test_a_persisted_kv_record_that_is_a_fifo_is_skipped(tmp_path: Path):
    persist = tmp_path / "kv"
    (persist / "s").mkdir(parents=True)
    os.mkfifo(persist / "s" / "0000.json")
    try:
        store = finishes(lambda: KVStore("s", (), persist))
        assert store.keys() == []
        assert "not a regular file (it is a FIFO)" in store.warnings[0]
    finally:
        with contextlib.suppress(OSError):
            os.close(os.open(persist / "s" / "0000.json", os.O_WRONLY | os.O_NONBLOCK))
