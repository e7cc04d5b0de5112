"""``geolocation`` and ``device_detection``: records by IP address or exact User-Agent.

Both take ``format = "inline-toml"`` (records in the manifest: ``addresses`` or ``user_agents``)
or ``format = "json"`` with a ``file``; without ``format`` there are no records. A JSON file is
checked at start-up and read again on every lookup, as Viceroy does (a file that has since become
unreadable makes the lookup fail, where Viceroy's host would panic).

Geolocation loopback: with ``use_default_loopback`` (default true) an address that is not in the
records and is a loopback address *by Rust's ``IpAddr::is_loopback``* gets the default record:
all of ``127.0.0.0/8`` and ``::1``, but not ``::ffff:127.0.0.1`` (IPv4-mapped). Records win over
the default.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from compute_emu.errors import ManifestError
from compute_emu.sdk._names import parse_ip

from ._common import KeyPath, Section, json_kind, json_object, kind_of

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Record = Mapping[str, Any]

#: Viceroy's ``GeolocationData::default()``, for loopback addresses.
DEFAULT_LOOPBACK_RECORD: Record = MappingProxyType(
    {
        "as_name": "Fastly, Inc",
        "as_number": 54113,
        "area_code": 415,
        "city": "San Francisco",
        "conn_speed": "broadband",
        "conn_type": "wired",
        "continent": "NA",
        "country_code": "US",
        "country_code3": "USA",
        "country_name": "United States of America",
        "latitude": 37.77869,
        "longitude": -122.39557,
        "metro_code": 0,
        "postal_code": "94107",
        "proxy_description": "?",
        "proxy_type": "?",
        "region": "CA",
        "utc_offset": -700,
    }
)

_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")


def is_loopback(ip: IPAddress) -> bool:
    """Rust's ``IpAddr::is_loopback``: ``127.0.0.0/8`` or ``::1`` (IPv4-mapped not included)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip in _LOOPBACK_V4
    return ip == _LOOPBACK_V6


@dataclass(frozen=True)
class _Mapping:
    """Records inline, or a JSON file re-read on each lookup."""

    records: Mapping[Any, Record] = field(default_factory=lambda: MappingProxyType({}))
    file: Path | None = None
    read: Callable[[Path, Callable[[str], NoReturn]], dict[Any, Record]] | None = field(
        default=None, repr=False, compare=False
    )
    origin: tuple[str, str, int | None, int | None] = field(
        default=("", "", None, None), repr=False, compare=False
    )

    def get(self, key: Any) -> Record | None:
        if self.file is None or self.read is None:
            return self.records.get(key)
        path, key_path, line, column = self.origin

        def fail(problem: str) -> NoReturn:
            raise ManifestError(path, key_path, problem, line=line, column=column)

        return self.read(self.file, fail).get(key)


@dataclass(frozen=True)
class Geolocation:
    """``[local_server.geolocation]``."""

    use_default_loopback: bool = True
    mapping: _Mapping = field(default_factory=_Mapping)

    def lookup(self, ip: IPAddress) -> Record | None:
        record = self.mapping.get(ip)
        if record is None and self.use_default_loopback and is_loopback(ip):
            return DEFAULT_LOOPBACK_RECORD
        return record


@dataclass(frozen=True)
class DeviceDetection:
    """``[local_server.device_detection]``."""

    mapping: _Mapping = field(default_factory=_Mapping)

    def lookup(self, user_agent: str) -> Record | None:
        return self.mapping.get(user_agent)


def parse_geolocation(section: Section, local_server: Mapping[str, Any]) -> Geolocation:
    if "geolocation" not in local_server:
        return Geolocation()
    key: KeyPath = ("local_server", "geolocation")
    table = section.table(local_server["geolocation"], key)
    loopback = table.get("use_default_loopback", True)
    if not isinstance(loopback, bool):
        section.fail(
            (*key, "use_default_loopback"), f"expected true or false, got {kind_of(loopback)}"
        )
    mapping = _parse_mapping(section, key, table, "addresses", _read_geo_json, _geo_inline)
    return Geolocation(loopback, mapping)


def parse_device_detection(section: Section, local_server: Mapping[str, Any]) -> DeviceDetection:
    if "device_detection" not in local_server:
        return DeviceDetection()
    key: KeyPath = ("local_server", "device_detection")
    table = section.table(local_server["device_detection"], key)
    mapping = _parse_mapping(section, key, table, "user_agents", _read_device_json, _device_inline)
    return DeviceDetection(mapping)


def _parse_mapping(
    section: Section,
    key: KeyPath,
    table: dict[str, Any],
    inline_name: str,
    read_json: Callable[[Path, Callable[[str], NoReturn]], dict[Any, Record]],
    inline: Callable[[Section, KeyPath, dict[str, Any]], dict[Any, Record]],
) -> _Mapping:
    fmt = section.format(table, (*key, "format"), ("inline-toml", "json"))
    if fmt is None:
        if inline_name in table or "file" in table:
            section.warn(key, f'no "format" given, so "{inline_name}"/"file" are ignored')
        return _Mapping()
    if fmt == "inline-toml":
        if inline_name not in table:
            section.fail(key, f'missing required key "{inline_name}" (format is "inline-toml")')
        records = section.table(table[inline_name], (*key, inline_name))
        return _Mapping(MappingProxyType(inline(section, (*key, inline_name), records)))
    file_key = (*key, "file")
    path = section.resolve(section.file_name(table, file_key))

    def fail(problem: str) -> NoReturn:
        section.fail(file_key, problem)

    read_json(path, fail)
    err = section.error(file_key, "")
    return _Mapping(file=path, read=read_json, origin=(err.path, err.key, err.line, err.column))


_GEO_VALUE = (str, int, float, bool)


def _geo_inline(section: Section, key: KeyPath, table: dict[str, Any]) -> dict[Any, Record]:
    records: dict[Any, Record] = {}
    for address, value in table.items():
        try:
            ip = parse_ip(address)
        except ValueError:
            section.fail((*key, address), f"{address!r} is not an IP address")
        record = section.table(value, (*key, address))
        for name, item in record.items():
            if not isinstance(item, _GEO_VALUE):
                section.fail(
                    (*key, address, name),
                    f"expected a string, number or boolean, got {kind_of(item)}",
                )
        records[ip] = MappingProxyType(dict(record))
    return records


def _read_geo_json(path: Path, fail: Callable[[str], NoReturn]) -> dict[Any, Record]:
    records: dict[Any, Record] = {}
    for address, value in json_object(path, fail).items():
        try:
            ip = parse_ip(address)
        except ValueError:
            fail(f'"{path}": {address!r} is not an IP address')
        if not isinstance(value, dict):
            fail(f'"{path}": "{address}" must be an object, not {json_kind(value)}')
        records[ip] = MappingProxyType(value)
    return records


def _device_inline(section: Section, key: KeyPath, table: dict[str, Any]) -> dict[Any, Record]:
    records: dict[Any, Record] = {}
    for user_agent, value in table.items():
        record = section.table(value, (*key, user_agent))
        records[user_agent] = MappingProxyType(_plain(section, (*key, user_agent), record))
    return records


def _plain(section: Section, key: KeyPath, table: dict[str, Any]) -> dict[str, Any]:
    """Nested tables of strings, numbers and booleans (as Viceroy's ``convert_value_to_json``)."""
    out: dict[str, Any] = {}
    for name, item in table.items():
        if isinstance(item, dict):
            out[name] = _plain(section, (*key, name), item)
        elif isinstance(item, _GEO_VALUE):
            out[name] = item
        else:
            section.fail(
                (*key, name), f"expected a string, number, boolean or table, got {kind_of(item)}"
            )
    return out


def _read_device_json(path: Path, fail: Callable[[str], NoReturn]) -> dict[Any, Record]:
    records: dict[Any, Record] = {}
    for user_agent, value in json_object(path, fail).items():
        if not isinstance(value, dict):
            fail(f'"{path}": {json.dumps(user_agent)} must be an object, not {json_kind(value)}')
        records[user_agent] = MappingProxyType(value)
    return records
