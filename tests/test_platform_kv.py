"""KV stores: the reference's example, every operation, persistence across a restart, threads."""

# ruff: noqa: E501 - the reference's fastly.toml example is kept verbatim

from __future__ import annotations

import datetime
import json
import threading
import time
from pathlib import Path

import pytest

from compute_emu.platform import KVError, KVStore, kv_key_problem
from compute_emu.sdk import Body, InsertMode, KVStoreError
from compute_emu.sdk import KVStore as SdkKVStore
from tests.platform_support import build, serving

# §8.4, verbatim (the kv.json line is a comment there; the file is written below)
KV_STORES = """\
[local_server]
kv_stores.empty_store = []
kv_stores.store_one = [
  { key = "first", data = "This is some data" },
  { key = "second", file = "data/kv-store.txt" },
  { key = "third", data = "third", metadata = "some metadata" },
]
kv_stores.store_two = { file = "kv.json", format = "json" }
# kv.json: {"first":"x","second":{"file":"data/kv-store.txt"},"third":{"data":"third","metadata":"m"}}
"""
KV_FILES = {
    "data/kv-store.txt": b"file \x00 bytes",
    "kv.json": {
        "first": "x",
        "second": {"file": "data/kv-store.txt"},
        "third": {"data": "third", "metadata": "m"},
    },
}


def store(tmp_path: Path, persist: Path | None = None, name: str = "store_one") -> KVStore:
    return build(tmp_path, KV_STORES, KV_FILES, persist=persist).kv_stores[name]


def test_seeds_from_both_forms(tmp_path: Path) -> None:
    platform = build(tmp_path, KV_STORES, KV_FILES)
    assert set(platform.kv_stores) == {"empty_store", "store_one", "store_two"}
    assert platform.kv_stores["empty_store"].keys() == []
    one, two = platform.kv_stores["store_one"], platform.kv_stores["store_two"]
    assert one.lookup("first").body == b"This is some data"  # type: ignore[union-attr]
    assert one.lookup("second").body == b"file \x00 bytes"  # type: ignore[union-attr]
    assert one.lookup("third").metadata == "some metadata"  # type: ignore[union-attr]
    assert one.lookup("first").metadata is None  # type: ignore[union-attr]
    assert two.lookup("first").body == b"x"  # type: ignore[union-attr]
    assert two.lookup("second").body == b"file \x00 bytes"  # type: ignore[union-attr]
    assert two.lookup("third").metadata == "m"  # type: ignore[union-attr]
    assert one.lookup("missing") is None


@pytest.mark.parametrize("alias", ["object_stores", "object_store"])
def test_older_section_names(tmp_path: Path, alias: str) -> None:
    platform = build(tmp_path, KV_STORES.replace("kv_stores.", f"{alias}."), KV_FILES)
    assert set(platform.kv_stores) == {"empty_store", "store_one", "store_two"}


def test_insert_modes_and_generations(tmp_path: Path) -> None:
    kv = store(tmp_path)
    first = kv.lookup("first")
    assert first is not None
    g1 = kv.insert("k", b"mid", metadata="m1")
    assert g1 > first.generation
    with pytest.raises(KVError) as info:
        kv.insert("k", b"x", mode="add")
    assert info.value.kind == "precondition_failed"
    g2 = kv.insert("k", b"<", mode="prepend")
    g3 = kv.insert("k", b">", mode="append")
    assert g1 < g2 < g3
    entry = kv.lookup("k")
    assert entry is not None and entry.body == b"<mid>" and entry.metadata is None
    kv.insert("new", b"a", mode="append")  # append/prepend to a missing key just writes
    kv.insert("new2", b"b", mode="add")
    assert kv.lookup("new").body == b"a" and kv.lookup("new2").body == b"b"  # type: ignore[union-attr]


def test_if_generation_match(tmp_path: Path) -> None:
    kv = store(tmp_path)
    gen = kv.insert("k", b"1")
    with pytest.raises(KVError, match="does not match") as info:
        kv.insert("k", b"2", if_generation_match=gen - 1)
    assert info.value.kind == "precondition_failed"
    assert kv.lookup("k").body == b"1"  # type: ignore[union-attr]
    kv.insert("k", b"2", if_generation_match=gen)
    assert kv.lookup("k").body == b"2"  # type: ignore[union-attr]
    kv.insert("absent", b"3", if_generation_match=12345)  # Viceroy: no entry, no precondition


def test_delete_and_ttl(tmp_path: Path) -> None:
    kv = store(tmp_path)
    assert kv.delete("first") is True
    assert kv.delete("first") is False
    assert kv.lookup("first") is None
    kv.insert("brief", b"x", ttl=0.05)
    assert kv.lookup("brief") is not None
    time.sleep(0.1)
    assert kv.lookup("brief") is None
    assert "brief" not in kv.list()[0]


def test_list_prefix_cursor_limit(tmp_path: Path) -> None:
    kv = store(tmp_path, name="empty_store")
    for key in ["b/2", "a", "b/1", "b/3", "c"]:
        kv.insert(key, b"")
    assert kv.list() == (["a", "b/1", "b/2", "b/3", "c"], None)
    keys, cursor = kv.list(prefix="b/", limit=2)
    assert keys == ["b/1", "b/2"] and cursor is not None
    assert kv.list(prefix="b/", cursor=cursor, limit=2) == (["b/3"], None)
    keys, cursor = kv.list(limit=4)
    assert keys == ["a", "b/1", "b/2", "b/3"]
    assert kv.list(cursor=cursor) == (["c"], None)
    for bad in ({"cursor": "%%%"}, {"limit": 0}):
        with pytest.raises(KVError) as info:
            kv.list(**bad)  # type: ignore[arg-type]
        assert info.value.kind == "bad_request"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "x" * 1025,
        ".",
        "..",
        "a/../b",
        ".well-known/acme-challenge/x",
        "a\nb",
        "a\rb",
        "a#b",
        "a?b",
        " ",
        "\ud800",
    ],
)
def test_invalid_keys(tmp_path: Path, key: str) -> None:
    kv = store(tmp_path)
    assert kv_key_problem(key)
    for call in (kv.lookup, kv.delete, lambda k: kv.insert(k, b"")):
        with pytest.raises(KVError) as info:
            call(key)
        assert info.value.kind == "invalid_key"


def test_valid_keys(tmp_path: Path) -> None:
    kv = store(tmp_path)
    for key in ["x" * 1024, "é" * 512, "a/b/c", "..a", "well-known"]:
        assert kv_key_problem(key) is None
        kv.insert(key, b"ok")


def test_persistence_across_a_restart(tmp_path: Path) -> None:
    project, persist = tmp_path / "project", tmp_path / "kv"
    project.mkdir()
    before = store(project, persist)
    before.insert("counter", b"41", metadata="n")
    before.insert("counter", b"42", mode="overwrite")
    before.insert("first", b"changed")
    before.delete("third")
    generation = before.lookup("counter").generation  # type: ignore[union-attr]
    assert list((persist / "store_one").glob(".tmp-*")) == []

    after = store(project, persist)  # a restart: fastly.toml seeds, the records win
    counter = after.lookup("counter")
    assert counter is not None and counter.body == b"42" and counter.generation == generation
    assert after.lookup("first").body == b"changed"  # type: ignore[union-attr]
    assert after.lookup("third") is None  # deleted stays deleted
    assert after.lookup("second").body == b"file \x00 bytes"  # type: ignore[union-attr]
    assert after.insert("counter", b"43") > generation
    # fastly.toml edited: keys written at run time keep their value, the others follow the file
    edited = KV_STORES.replace("This is some data", "edited").replace(
        'data = "third"', 'data = "3"'
    )
    third = build(project, edited, KV_FILES, persist=persist).kv_stores["store_one"]
    assert third.lookup("first").body == b"changed"  # type: ignore[union-attr]
    assert third.lookup("third") is None
    edited2 = KV_STORES.replace(
        '{ key = "second", file = "data/kv-store.txt" }', '{ key = "second", data = "2" }'
    )
    fourth = build(project, edited2, KV_FILES, persist=persist).kv_stores["store_one"]
    assert fourth.lookup("second").body == b"2"  # type: ignore[union-attr]
    without = build(project, KV_STORES, KV_FILES)  # no persist dir: seed only
    assert without.kv_stores["store_one"].lookup("counter") is None


def test_unreadable_record_is_skipped_with_a_warning(tmp_path: Path) -> None:
    project, persist = tmp_path / "project", tmp_path / "kv"
    project.mkdir()
    store(project, persist).insert("a", b"1")
    (persist / "store_one" / "junk.json").write_text("{not json")
    (persist / "store_one" / ".tmp-leftover.json").write_text("partial")
    platform = build(project, KV_STORES, KV_FILES, persist=persist)
    assert platform.kv_stores["store_one"].lookup("a").body == b"1"  # type: ignore[union-attr]
    assert any("junk.json" in w for w in platform.warnings)
    assert not (persist / "store_one" / ".tmp-leftover.json").exists()
    record = json.loads(next((persist / "store_one").glob("[0-9a-f]*.json")).read_text())
    assert record["key"] == "a"


def test_many_threads_appending(tmp_path: Path) -> None:
    kv = store(tmp_path, persist=tmp_path / "kv", name="empty_store")
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for _ in range(25):
            kv.insert("log", f"{n}".encode(), mode="append")
            kv.insert(f"t{n}", b"x", mode="append")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    body = kv.lookup("log").body  # type: ignore[union-attr]
    assert len(body) == 200 and sorted(body.decode()) == sorted("01234567" * 25)
    assert kv.lookup("t3").body == b"x" * 25  # type: ignore[union-attr]
    reloaded = store(tmp_path, persist=tmp_path / "kv", name="empty_store")
    assert reloaded.lookup("log").body == body  # type: ignore[union-attr]


def test_sdk_kv_store(tmp_path: Path) -> None:
    platform = build(tmp_path, KV_STORES, KV_FILES)
    with serving(platform):
        assert SdkKVStore.open("nope") is None
        kv = SdkKVStore.open("store_one")
        assert kv is not None and kv.name() == "store_one"
        found = kv.lookup("third")
        assert found.metadata() == b"some metadata" and found.metadata_str() == "some metadata"
        assert found.generation() == found.current_generation() > 0
        assert found.take_body().into_string() == "third"
        assert found.take_body_bytes() == b"" and found.try_take_body() is None
        with pytest.raises(KVStoreError.ItemNotFound, match="missing"):
            kv.lookup("missing")
        kv.insert("visits", "1")
        gen = kv.lookup("visits").current_generation()
        (
            kv.build_insert()
            .mode(InsertMode.Append)
            .metadata("counted")
            .if_generation_match(gen)
            .time_to_live(datetime.timedelta(minutes=5))
            .execute("visits", Body(b"0"))
        )
        visits = kv.build_lookup().execute("visits")
        assert visits.take_body_bytes() == b"10" and visits.metadata_str() == "counted"
        with pytest.raises(KVStoreError.ItemPreconditionFailed):
            kv.build_insert().if_generation_match(gen).execute("visits", b"x")
        with pytest.raises(KVStoreError.ItemPreconditionFailed):
            kv.build_insert().mode(InsertMode.Add).execute("visits", b"x")
        with pytest.raises(KVStoreError.InvalidKey):
            kv.insert("..", b"x")
        kv.delete("visits")
        with pytest.raises(KVStoreError.ItemNotFound):
            kv.delete("visits")
        page = kv.build_list().prefix("").limit(2).execute()
        assert page.keys() == ["first", "second"] and page.next_cursor() is not None
        assert kv.build_list().cursor(page.next_cursor()).execute().keys() == ["third"]  # type: ignore[arg-type]
        pages = list(kv.build_list().limit(1).iter())
        assert [p.keys() for p in pages] == [["first"], ["second"], ["third"]]
        assert kv.list().keys() == ["first", "second", "third"]
        with pytest.raises(KVStoreError.ItemBadRequest):
            kv.build_list().cursor("!!").execute()
        assert issubclass(KVStoreError.ItemNotFound, KVStoreError)
    with pytest.raises(RuntimeError, match=r"KVStore\.open"):
        SdkKVStore.open("store_one")
