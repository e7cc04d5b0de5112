"""The native host's platform calls (``runtime/platform_calls.py``): the SDK's host interface
over a Platform, driven as the SDK drives it, values in and out, with no server (a fake of
the per-server services with an event loop of its own)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from compute_emu.platform import Platform
from compute_emu.sdk._host import bind_host
from compute_emu.sdk._interface import AclMatch, HostError, KvEntry, KvInsert, KvPage
from tests.platform_support import PlatformHost, build, platform_host

TOML = """\
[local_server]
fake_valid_fastly_keys = ["good-key"]
kv_stores.visits = [{ key = "count", data = "1", metadata = "m" }]
kv_stores.empty = []
config_stores.animals = { format = "inline-toml", contents = { dog = "woof" } }
config_stores.strings = { format = "json", file = "strings.json" }
secret_stores.creds = [{ key = "token", data = "s3cret" }]
acls.list = "acl.json"

[local_server.geolocation]
format = "inline-toml"
[local_server.geolocation.addresses."192.0.2.1"]
city = "Test City"

[local_server.device_detection]
format = "inline-toml"
[local_server.device_detection.user_agents."phone-ua"]
device = { name = "Phone", is_mobile = true }
"""
ACL = {
    "entries": [
        {"op": "create", "prefix": "10.0.0.0/8", "action": "BLOCK"},
        {"op": "create", "prefix": "10.1.0.0/16", "action": "ALLOW"},
        {"op": "create", "prefix": "10.2.0.0/16", "action": "POTATO"},
    ]
}
IP = ipaddress.ip_address


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return build(tmp_path, TOML, {"strings.json": {"cat": "meow"}, "acl.json": ACL})


@pytest.fixture
def host(platform: Platform) -> Iterator[PlatformHost]:
    with platform_host(platform, request_id=0xBEEF) as fake:
        yield fake


def kind_of(call: object) -> tuple[str, str]:
    assert callable(call)
    with pytest.raises(HostError) as info:
        call()
    return info.value.kind, str(info.value)


# -- KV stores ---------------------------------------------------------------------------
def test_kv_round_trip_as_values(host: PlatformHost) -> None:
    store = host.kv_open("visits")
    entry = host.kv_lookup(store, "count")
    assert entry is not None and (entry.body, entry.metadata) == (b"1", "m")
    host.kv_insert(store, "count", b"2", KvInsert(mode="append", metadata="n"))
    after = host.kv_lookup(store, "count")
    assert after == KvEntry(b"12", "n", after.generation if after else 0)
    assert after is not None and after.generation > entry.generation
    host.kv_insert(store, "a1", b"x", KvInsert())
    host.kv_insert(store, "a2", b"y", KvInsert(ttl=60.0))
    first = host.kv_list(store, "a", None, 1)
    assert first.keys == ("a1",) and first.next_cursor is not None
    assert host.kv_list(store, "a", first.next_cursor, 1) == KvPage(("a2",), None)
    assert host.kv_list(store, None, None, None) == KvPage(("a1", "a2", "count"), None)
    assert host.kv_delete(store, "a1") is True
    assert host.kv_delete(store, "a1") is False
    assert host.kv_lookup(store, "a1") is None


def test_kv_errors_are_host_error_kinds(host: PlatformHost) -> None:
    store = host.kv_open("visits")
    assert kind_of(lambda: host.kv_lookup(store, "")) == (
        "invalid_key",
        "invalid key '': keys cannot be empty",
    )
    assert kind_of(lambda: host.kv_insert(store, "count", b"x", KvInsert(mode="add")))[0] == (
        "precondition_failed"
    )
    generation = 1  # not the current one
    stale = KvInsert(if_generation_match=generation)
    assert kind_of(lambda: host.kv_insert(store, "count", b"x", stale))[0] == "precondition_failed"
    assert kind_of(lambda: host.kv_list(store, None, "not base64!", None)) == (
        "invalid_argument",
        "invalid list cursor 'not base64!'",
    )
    assert kind_of(lambda: host.kv_list(store, None, None, 0))[0] == "invalid_argument"
    assert kind_of(lambda: host.kv_lookup("visits", "count")) == (
        "invalid_argument",
        "not a KV store: str",
    )


def test_kv_open_of_an_unknown_store_warns_naming_the_known_ones(
    host: PlatformHost, capsys: pytest.CaptureFixture[str]
) -> None:
    assert host.kv_open("typo") is None
    assert capsys.readouterr().err == (
        'warning: KVStore.open("typo"): no such KV store (known KV stores: "empty", "visits"; '
        "define it under [local_server.kv_stores] in fastly.toml)\n"
    )
    host.kv_open("visits")
    assert capsys.readouterr().err == ""


# -- config and secret stores, ACLs, names -------------------------------------------------
def test_config_stores(host: PlatformHost, tmp_path: Path) -> None:
    assert host.config_store_open("plants") is None
    animals = host.config_store_open("animals")
    assert host.config_store_get(animals, "dog") == "woof"
    assert host.config_store_get(animals, "cat") is None
    strings = host.config_store_open("strings")
    (tmp_path / "strings.json").write_text('{"cat": "purr"}')
    assert host.config_store_get(strings, "cat") == "meow"  # read when opened
    assert host.config_store_get(host.config_store_open("strings"), "cat") == "purr"
    (tmp_path / "strings.json").write_text("[1]")
    kind, message = kind_of(lambda: host.config_store_open("strings"))
    assert kind == "unexpected" and "strings.json" in message and "JSON object" in message
    assert kind_of(lambda: host.config_store_get(object(), "dog"))[0] == "invalid_argument"


def test_secret_stores(host: PlatformHost) -> None:
    assert host.secret_store_open("nope") is None
    creds = host.secret_store_open("creds")
    assert host.secret_store_get(creds, "token") == b"s3cret"
    assert host.secret_store_get(creds, "other") is None


def test_acls(host: PlatformHost) -> None:
    assert host.acl_open("nope") is None
    acl = host.acl_open("list")
    assert host.acl_lookup(acl, IP("10.9.9.9")) == AclMatch("10.0.0.0/8", "BLOCK")
    assert host.acl_lookup(acl, IP("10.1.2.3")) == AclMatch("10.1.0.0/16", "ALLOW")
    assert host.acl_lookup(acl, IP("192.0.2.1")) is None
    assert kind_of(lambda: host.acl_lookup(acl, IP("10.2.0.1"))) == (
        "unexpected",
        "ACL \"list\": the entry 10.2.0.0/16 has action 'POTATO', neither ALLOW nor BLOCK",
    )


def test_store_names(host: PlatformHost) -> None:
    assert host.store_names("kv") == ("empty", "visits")
    assert host.store_names("config") == ("animals", "strings")
    assert host.store_names("secret") == ("creds",)
    assert host.store_names("acl") == ("list",)


# -- lookups -----------------------------------------------------------------------------
def test_geo_device_and_fastly_keys(host: PlatformHost) -> None:
    assert host.geo_lookup(IP("192.0.2.1")) == {"city": "Test City"}
    assert host.geo_lookup(IP("192.0.2.2")) is None
    loopback = host.geo_lookup(IP("127.0.0.1"))
    assert loopback is not None and loopback["city"] == "San Francisco"
    assert host.device_lookup("phone-ua") == {"device": {"name": "Phone", "is_mobile": True}}
    assert host.device_lookup("other") is None
    assert host.fastly_key_is_valid("good-key") is True
    assert host.fastly_key_is_valid("bad-key") is False
    assert host.fastly_key_is_valid(None) is False


# -- edge rate limiting --------------------------------------------------------------------
def test_erl(host: PlatformHost) -> None:
    host.erl_increment("rc", "client", 5)
    assert host.erl_count("rc", "client", 10) == 5
    assert host.erl_rate("rc", "client", 10) == 0  # 5 events over 10 s, whole events/s
    assert host.erl_check_rate("rc", "burst", 100, 1, 10, "box", 60) is True
    assert host.penaltybox_has("box", "burst") is True
    host.penaltybox_add("box", "other", 120)
    assert host.penaltybox_has("box", "other") is True
    assert host.erl_check_rate("rc", "calm", 1, 1, 10, "box", 60) is False
    for call in (
        lambda: host.erl_rate("rc", "client", 2),
        lambda: host.erl_count("rc", "client", 5),
        lambda: host.erl_increment("rc", "client", -1),
        lambda: host.penaltybox_add("box", "x", 1),
        lambda: host.erl_check_rate("rc", "x", 1, 7, 10, "box", 60),
    ):
        kind, message = kind_of(call)
        assert kind == "invalid_argument" and message


# -- the instance --------------------------------------------------------------------------
def test_instance_facts(host: PlatformHost) -> None:
    assert host.sandbox_id() == f"{0xBEEF:032x}"
    assert re.fullmatch(r"[0-9a-f]{32}", host.sandbox_id())
    assert host.heap_mib() >= 1
    with bind_host(host):  # type: ignore[arg-type]
        spent = 0
        while host.vcpu_ms() < 2:  # burn a little CPU on this thread
            spent += sum(range(10_000))
        assert host.vcpu_ms() >= 2
