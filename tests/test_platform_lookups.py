"""Geolocation, device detection and ACLs: the reference's examples, both forms, the SDK."""

# ruff: noqa: E501 - the reference's fastly.toml examples are kept verbatim

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest

from compute_emu.platform import DEFAULT_LOOPBACK_RECORD, Platform, parse_prefix
from compute_emu.sdk import (
    Acl,
    AclLookupError,
    AclOpenError,
    MatchAction,
    device_detection,
    device_lookup,
    geo_lookup,
)
from tests.platform_support import build, serving

# §8.6, verbatim
GEOLOCATION = """\
[local_server.geolocation]
use_default_loopback = false
format = "inline-toml"
[local_server.geolocation.addresses."127.0.0.1"]
as_name = "Fastly Test"
as_number = 12345
city = "Test City"
country_code = "CA"
latitude = 12.345
longitude = 54.321
"""

# §8.7, verbatim
UA = "ghosts-app/1.0.2.1 (ASUSTeK COMPUTER INC.; X550CC; Windows 8 (X86); en)"
DEVICE_DETECTION = """\
[local_server.device_detection]
format = "inline-toml"
[local_server.device_detection.user_agents."ghosts-app/1.0.2.1 (ASUSTeK COMPUTER INC.; X550CC; Windows 8 (X86); en)"]
user_agent = {}
os = {}
device = { name = "Asus TeK", brand = "Asus", model = "TeK", is_desktop = false }
"""

# §8.8, verbatim
ACLS = """\
[local_server]
acls.my-acl-1 = "acl1.json"
acls.my-acl-2 = { file = "acl2.json" }
# {"entries":[{"op":"create","prefix":"1.2.3.0/24","action":"BLOCK"}]}
"""
ACL1 = {"entries": [{"op": "create", "prefix": "1.2.3.0/24", "action": "BLOCK"}]}
ACL2 = {
    "entries": [
        {"op": "create", "prefix": "192.168.0.0/16", "action": "BLOCK"},
        {"op": "create", "prefix": "192.168.100.0/24", "action": "allow"},
        {"op": "create", "prefix": "192.168.100.7/24", "action": "BLOCK"},  # tie: last wins
        {"op": "create", "prefix": "10.0.0.0/8", "action": "ALLOW"},
        {"op": "create", "prefix": "2001:db8::/32", "action": "BLOCK"},
        {"op": "create", "prefix": "2001:db8:1::1/48", "action": "ALLOW"},
        {"op": "create", "prefix": "::ffff:10.0.0.0/104", "action": "BLOCK"},
    ]
}


def test_default_loopback_record() -> None:
    geolocation = Platform.empty().geolocation
    for ip in ["127.0.0.1", "127.8.9.10", "::1"]:
        assert geolocation.lookup(ipaddress.ip_address(ip)) is DEFAULT_LOOPBACK_RECORD
    for ip in ["::ffff:127.0.0.1", "10.0.0.1", "128.0.0.1"]:
        assert geolocation.lookup(ipaddress.ip_address(ip)) is None
    with serving(Platform.empty()):
        geo = geo_lookup("127.0.0.1")
        assert geo is not None
        assert geo.as_name() == "Fastly, Inc" and geo.as_number() == 54113
        assert geo.area_code() == 415 and geo.city() == "San Francisco"
        assert geo.conn_speed() == "broadband" and geo.conn_type() == "wired"
        assert geo.continent() == "NA" and geo.country_code() == "US"
        assert geo.country_code3() == "USA" and geo.country_name() == "United States of America"
        assert geo.latitude() == 37.77869 and geo.longitude() == -122.39557
        assert geo.metro_code() == 0 and geo.postal_code() == "94107"
        assert geo.proxy_description() == "?" and geo.proxy_type() == "?"
        assert geo.region() == "CA"
        assert geo.utc_offset() == datetime.timezone(datetime.timedelta(hours=-7))
        assert geo_lookup(ipaddress.ip_address("::1")) is not None
        assert geo_lookup("192.0.2.1") is None
        with pytest.raises(ValueError):
            geo_lookup("not-an-ip")


def test_inline_geolocation(tmp_path: Path) -> None:
    with serving(build(tmp_path, GEOLOCATION)):
        geo = geo_lookup(ipaddress.IPv4Address("127.0.0.1"))
        assert geo is not None
        assert (geo.as_name(), geo.as_number(), geo.city()) == ("Fastly Test", 12345, "Test City")
        assert (geo.country_code(), geo.latitude(), geo.longitude()) == ("CA", 12.345, 54.321)
        assert geo.postal_code() == "" and geo.metro_code() == 0 and geo.region() is None
        assert geo.utc_offset() is None and geo.raw()["city"] == "Test City"
        assert geo_lookup("127.0.0.2") is None  # use_default_loopback = false


def test_json_geolocation_is_reread_on_every_lookup(tmp_path: Path) -> None:
    toml = '[local_server.geolocation]\nformat = "json"\nfile = "geo.json"\n'
    platform = build(tmp_path, toml, {"geo.json": {"192.0.2.9": {"city": "Here"}}})
    with serving(platform):
        assert geo_lookup("192.0.2.9").city() == "Here"  # type: ignore[union-attr]
        assert geo_lookup("127.0.0.1").city() == "San Francisco"  # type: ignore[union-attr]
        (tmp_path / "geo.json").write_text('{"192.0.2.9": {"city": "There"}, "::1": {}}')
        assert geo_lookup("192.0.2.9").city() == "There"  # type: ignore[union-attr]
        assert geo_lookup("::1").city() == ""  # type: ignore[union-attr] # records win
        (tmp_path / "geo.json").unlink()
        with pytest.raises(RuntimeError, match=r"local_server\.geolocation\.file.*geo\.json"):
            geo_lookup("192.0.2.9")


def test_device_detection_inline(tmp_path: Path) -> None:
    with serving(build(tmp_path, DEVICE_DETECTION)):
        device = device_detection.lookup(UA)
        assert device is not None
        assert (device.device_name(), device.brand(), device.model()) == ("Asus TeK", "Asus", "TeK")
        assert device.is_desktop() is False
        assert device.is_mobile() is None and device.hwtype() is None
        assert device.raw()["os"] == {}
        assert device_lookup(UA.lower()) is None  # exact match only
        assert device_lookup("") is None


def test_device_detection_json(tmp_path: Path) -> None:
    record = {
        "device": {
            "name": "iPhone",
            "brand": "Apple",
            "model": "iPhone4,1",
            "hwtype": "Mobile Phone",
            "is_mobile": True,
            "is_tablet": False,
            "is_touchscreen": True,
            "is_smarttv": False,
            "is_gameconsole": False,
            "is_ereader": False,
            "is_mediaplayer": False,
            "is_tvplayer": False,
            "is_bot": False,
            "is_downloader": False,
            "is_desktop": False,
        }
    }
    toml = '[local_server.device_detection]\nformat = "json"\nfile = "ua.json"\n'
    with serving(build(tmp_path, toml, {"ua.json": {"phone-ua": record}})):
        device = device_lookup("phone-ua")
        assert device is not None and device.hwtype() == "Mobile Phone"
        assert device.is_mobile() and device.is_touchscreen() and not device.is_tablet()
        assert device.is_smarttv() is False and device.is_tvplayer() is False
        assert device.is_bot() is False and device.is_downloader() is False
        (tmp_path / "ua.json").write_text('{"other": {}}')
        assert device_lookup("phone-ua") is None


def test_acls(tmp_path: Path) -> None:
    platform = build(tmp_path, ACLS, {"acl1.json": ACL1, "acl2.json": ACL2})
    with serving(platform):
        one = Acl.open("my-acl-1")
        found = one.try_lookup("1.2.3.4")
        assert found is not None and found.is_block() and not found.is_allow()
        assert found.prefix() == "1.2.3.0/24" and found.action() is MatchAction.Block
        assert one.lookup(ipaddress.ip_address("1.2.4.1")) is None
        two = Acl.open("my-acl-2")

        def match(ip: str) -> tuple[str, str] | None:
            hit = two.try_lookup(ip)
            return None if hit is None else (hit.prefix(), hit.action().value)

        assert match("192.168.1.1") == ("192.168.0.0/16", "BLOCK")
        assert match("192.168.100.1") == ("192.168.100.0/24", "BLOCK")  # tie: the later entry
        assert match("10.1.2.3") == ("10.0.0.0/8", "ALLOW")
        assert match("2001:db8::5") == ("2001:db8::/32", "BLOCK")
        assert match("2001:db8:1::9") == ("2001:db8:1::/48", "ALLOW")
        assert match("::ffff:10.1.2.3") == ("::ffff:a00:0/104", "BLOCK")  # never the v4 entry
        assert match("172.16.0.1") is None
        with pytest.raises(AclOpenError.AclNotFound, match="my-acl-1, my-acl-2"):
            Acl.open("my-acl-3")
        with pytest.raises(AclLookupError.InvalidArgument):
            two.try_lookup("300.1.1.1")


def test_acl_other_action_fails_at_lookup(tmp_path: Path) -> None:
    acl = {"entries": [{"prefix": "1.0.0.0/8", "action": "POTATO"}]}
    platform = build(tmp_path, ACLS, {"acl1.json": acl, "acl2.json": ACL2})
    assert any("POTATO" in warning for warning in platform.warnings)
    with serving(platform), pytest.raises(AclLookupError.InvalidResponseBody):
        Acl.open("my-acl-1").try_lookup("1.1.1.1")


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("255.255.255.255/32", "255.255.255.255/32"),
        ("255.255.255.255/8", "255.0.0.0/8"),
        ("2002::1234:abcd:ffff:c0a8:101/64", "2002:0:0:1234::/64"),
        ("2000::AB/32", "2000::/32"),
    ],
)
def test_prefix_normalisation(text: str, normalised: str) -> None:
    assert str(parse_prefix(text)) == normalised


@pytest.mark.parametrize(
    "text", ["1.2.3.4/33", "200::/129", "200::/none", "1.2.3.four/16", "1.2.3.4", "1.2.3.4/0"]
)
def test_bad_prefixes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_prefix(text)


def test_lookups_outside_a_request_fail_clearly() -> None:
    with pytest.raises(RuntimeError, match=r"geo_lookup\(\) needs a running request"):
        geo_lookup("127.0.0.1")
    with pytest.raises(RuntimeError, match=r"device_detection\.lookup\(\)"):
        device_lookup(UA)
    with pytest.raises(RuntimeError, match=r"Acl\.open\(\)"):
        Acl.open("my-acl-1")
