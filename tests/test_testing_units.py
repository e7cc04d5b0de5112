"""compute_emu.testing's pure parts: the SSE parser and the manifest overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute_emu.errors import ManifestError
from compute_emu.manifest import load_manifest
from compute_emu.platform import Platform
from compute_emu.testing import SSEEvent, SSEParser
from compute_emu.testing._manifest import binary_kv_items, with_overrides

STREAM = (
    b": a comment\r\n"
    b"data: one\r\n\r\n"
    b"event: update\nid: 7\ndata: two\ndata:  lines\n\n"
    b"data:no space\r\r"
    b"retry: 10\nunknown: x\n\n"  # no data: no event
)
EVENTS = [
    SSEEvent("one"),
    SSEEvent("two\n lines", "update", "7"),
    SSEEvent("no space", "message", "7"),  # the last id stays
]


def test_sse_whole_input():
    assert SSEParser().feed(STREAM) == EVENTS


def test_sse_byte_by_byte():
    parser = SSEParser()
    events = [event for i in range(len(STREAM)) for event in parser.feed(STREAM[i : i + 1])]
    assert events == EVENTS


def test_sse_trailing_data_waits_for_its_blank_line():
    parser = SSEParser()
    assert parser.feed(b"data: done\n\ndata: half") == [SSEEvent("done")]
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\n") == [SSEEvent("half")]


TOML = """manifest_version = 3
[local_server.backends.origin]
url = "http://origin.example/"
override_host = "origin.example"
[local_server.backends.other]
url = "http://other.example/"
[local_server.kv_stores]
kept = [{key = "a", data = "1"}]
replaced = [{key = "old", data = "x"}]
[local_server.object_stores]
legacy = [{key = "b", data = "2"}]
[local_server.dictionaries.settings]
format = "inline-toml"
contents = {colour = "blue"}
"""


@pytest.fixture
def manifest(tmp_path: Path):
    (tmp_path / "fastly.toml").write_text(TOML)
    return load_manifest(tmp_path)


def test_a_url_keeps_the_rest_of_the_backend_a_table_replaces_it(manifest):
    changed = with_overrides(
        manifest,
        backends={"origin": "http://127.0.0.1:9000/api", "new": {"url": "http://127.0.0.1:1/"}},
    )
    origin = changed.backends["origin"]
    assert (origin.host, origin.port, origin.path_prefix) == ("127.0.0.1", 9000, "/api")
    assert origin.override_host == "origin.example"
    assert changed.backends["other"] is manifest.backends["other"]
    assert list(changed.backends) == ["origin", "other", "new"]
    replaced = with_overrides(manifest, backends={"origin": {"url": "http://127.0.0.1:1/"}})
    assert replaced.backends["origin"].override_host is None
    assert manifest.backends["origin"].host == "origin.example"  # the original is untouched


def test_stores_replace_by_name_across_aliases(manifest):
    changed = with_overrides(
        manifest,
        kv_stores={"replaced": {"new": "y", "raw": b"\x00"}, "legacy": {"c": "3"}},
        config_stores={"settings": {"colour": "green"}},
        secret_stores={"vault": {"token": b"t"}},
    )
    platform = Platform.from_manifest(changed)
    kv = platform.kv_stores
    assert sorted(kv) == ["kept", "legacy", "replaced"]
    assert kv["replaced"].keys() == ["new"]  # bytes values are inserted after start
    assert kv["legacy"].keys() == ["c"] and kv["kept"].keys() == ["a"]
    assert platform.config_stores["settings"].load() == {"colour": "green"}
    assert platform.secret_stores["vault"].get("token") == b"t"
    assert binary_kv_items({"replaced": {"new": "y", "raw": b"\x00"}}) == [
        ("replaced", "raw", b"\x00")
    ]


def test_pushpin_on_and_off(manifest):
    assert with_overrides(manifest, pushpin=True).pushpin.enable
    assert not with_overrides(manifest, pushpin=False).pushpin.enable


def test_a_bad_override_is_a_manifest_error(manifest):
    with pytest.raises(ManifestError, match=r"local_server\.backends\.origin.*no scheme"):
        with_overrides(manifest, backends={"origin": "localhost:3000"})
