"""What a ``wit_world`` stub file defines (compute_emu/official/stub_facts.py) and the copy
``serve --wasm`` keeps of it by content hash (compute_emu/wasm/stub_cache.py), so a start
parses no stub file that an earlier start has parsed."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import pytest

from compute_emu.official import stub_facts
from compute_emu.official.stub_facts import StubFunction
from compute_emu.wasm import component, stub_cache
from tests.support.processes import ROOT

STUB = '''"""A stub."""
from typing import Self


def send(request: Request, body: bytes, timeout: int | None) -> Response:
    """Send it.

    Raises: `componentize_py_types.Err(wit_world.imports.types.Error)`
    """
    raise NotImplementedError


def helper() -> int:
    return 1


class Request:
    @classmethod
    def new(cls) -> Self:
        """A new one."""
        raise NotImplementedError

    def get_uri(self, max_len: int) -> str:
        raise NotImplementedError
'''

EXPECTED = {
    "send": StubFunction(
        name="send",
        stub=True,
        is_classmethod=False,
        params=("request", "body", "timeout"),
        annotations=("Request", "bytes", "int | None"),
        result="Response",
        doc="Send it.\n\nRaises: `componentize_py_types.Err(wit_world.imports.types.Error)`",
    ),
    "helper": StubFunction("helper", False, False, (), (), "int", None),
    "Request.new": StubFunction("Request.new", True, True, ("cls",), (None,), "Self", "A new one."),
    "Request.get_uri": StubFunction(
        "Request.get_uri", True, False, ("self", "max_len"), (None, "int"), "str", None
    ),
}


def test_what_a_stub_file_defines():
    assert stub_facts.read(STUB) == EXPECTED


def test_the_json_form_gives_back_the_same_and_refuses_what_it_did_not_write():
    data = json.loads(json.dumps(stub_facts.to_json(EXPECTED)))
    assert stub_facts.from_json(data) == EXPECTED
    assert stub_facts.from_json({**data, "version": stub_facts.VERSION + 1}) is None
    assert stub_facts.from_json({"version": stub_facts.VERSION, "functions": [[1]]}) is None
    assert stub_facts.from_json([]) is None


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMPUTE_EMU_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(stub_cache, "_read", {})  # this process's copies: none yet
    return tmp_path / "cache"


def test_a_stub_file_is_parsed_once_then_read_from_the_cache_by_its_content(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
):
    stub = tmp_path / "http_req.py"
    stub.write_text(STUB)
    assert stub_cache.read(stub) == EXPECTED
    kept = cache / "stubs" / f"{hashlib.sha256(STUB.encode()).hexdigest()}.json"
    assert json.loads(kept.read_text()) == stub_facts.to_json(EXPECTED)
    assert [p.name for p in kept.parent.iterdir()] == [kept.name]  # no partial file left

    # another process (no copy of its own) reads the kept one and parses nothing
    monkeypatch.setattr(stub_cache, "_read", {})

    def no_parse(source: str) -> dict[str, StubFunction]:
        raise AssertionError("parsed again")

    monkeypatch.setattr(stub_facts, "read", no_parse)
    assert stub_cache.read(stub) == EXPECTED


def test_a_changed_stub_file_is_parsed_and_a_damaged_copy_is_replaced(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
):
    stub = tmp_path / "http_req.py"
    stub.write_text(STUB)
    stub_cache.read(stub)
    changed = STUB.replace("def helper", "def other")
    stub.write_text(changed)
    monkeypatch.setattr(stub_cache, "_read", {})
    assert "other" in stub_cache.read(stub)

    kept = stub_cache.kept_path(changed.encode())
    kept.write_text("{not json")
    monkeypatch.setattr(stub_cache, "_read", {})
    assert "other" in stub_cache.read(stub)
    assert stub_facts.from_json(json.loads(kept.read_text())) is not None


def test_an_unwritable_cache_only_costs_a_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("COMPUTE_EMU_CACHE_DIR", str(blocker))  # a file: no directory in it
    monkeypatch.setattr(stub_cache, "_read", {})
    stub = tmp_path / "http_req.py"
    stub.write_text(STUB)
    assert stub_cache.read(stub) == EXPECTED


def test_the_sdks_stubs_read_from_the_cache_say_what_parsing_them_says(cache: Path):
    stubs = sorted((ROOT / ".venv-official" / "lib").glob("python3*/site-packages/fastly_compute"))
    if not stubs:
        pytest.skip(".venv-official has no fastly-compute (bash scripts/official-env)")
    files = sorted((stubs[-1] / "testing" / "stubs" / "wit_world" / "imports").glob("*.py"))
    assert len(files) > 20
    for path in files:
        parsed = stub_facts.read(path.read_text())
        assert stub_cache.read(path) == parsed
    stub_cache._read.clear()
    for path in files:
        assert stub_cache.read(path) == stub_facts.read(path.read_text()), path


def test_wasmtimes_version_is_read_without_importlib_metadata():
    assert component.wasmtime_version() == importlib.metadata.version("wasmtime")
