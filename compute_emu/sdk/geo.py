"""Geolocation: mirrors ``fastly::geo`` (``geo_lookup(ip) -> Option<Geo>``).

::

    from compute_emu.sdk import Request, geo_lookup

    req = Request.from_client()
    geo = geo_lookup(req.get_client_ip_addr())
    city = geo.city() if geo else "somewhere"

Records come from ``[local_server.geolocation]``; loopback addresses (``127.0.0.0/8``, ``::1``)
get Viceroy's default San Francisco record unless ``use_default_loopback = false``.

Deliberate differences from Rust:

- ``geo_lookup`` accepts an ``ipaddress`` object or a string (a bad string raises
  ``ValueError``).
- The enum getters return the record's strings: ``conn_speed()`` (``"broadband"``),
  ``conn_type()`` (``"wired"``), ``continent()`` (``"NA"``), ``proxy_description()`` and
  ``proxy_type()`` (``"?"``).
- ``utc_offset()`` gives a ``datetime.timezone`` (the record's ``-700`` is UTC-07:00) or ``None``
  (Rust ``Option<UtcOffset>``).
- Fields missing from a local record read as ``""``/``0``/``0.0`` (``region()`` as ``None``);
  ``raw()`` returns the whole record.
- A ``format = "json"`` file is read on every lookup, as Viceroy does; if it has become
  unreadable or invalid, ``geo_lookup`` raises ``RuntimeError`` naming it (Viceroy panics).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping
from typing import Any

from ._interface import HostError
from ._names import IPAddress, parse_ip
from ._variants import host


def geo_lookup(ip: IPAddress | str) -> Geo | None:
    """The geolocation record of ``ip``, or ``None``."""
    runtime = host("geo_lookup()")
    if isinstance(ip, str):
        ip = parse_ip(ip)
    if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        raise TypeError(f"geo_lookup() takes an IP address, not {type(ip).__name__}")
    try:
        record = runtime.geo_lookup(ip)
    except HostError as exc:  # e.g. the JSON file broke since start-up: Viceroy's host panics
        raise RuntimeError(f"geolocation lookup failed: {exc}") from None
    return None if record is None else Geo(record)


class Geo:
    """A geolocation record."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        self._record = dict(record)

    def _str(self, name: str) -> str:
        value = self._record.get(name)
        return value if isinstance(value, str) else ""

    def _int(self, name: str) -> int:
        value = self._record.get(name)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    def _float(self, name: str) -> float:
        value = self._record.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return 0.0

    def as_name(self) -> str:
        return self._str("as_name")

    def as_number(self) -> int:
        return self._int("as_number")

    def area_code(self) -> int:
        return self._int("area_code")

    def city(self) -> str:
        return self._str("city")

    def conn_speed(self) -> str:
        return self._str("conn_speed")

    def conn_type(self) -> str:
        return self._str("conn_type")

    def continent(self) -> str:
        return self._str("continent")

    def country_code(self) -> str:
        return self._str("country_code")

    def country_code3(self) -> str:
        return self._str("country_code3")

    def country_name(self) -> str:
        return self._str("country_name")

    def latitude(self) -> float:
        return self._float("latitude")

    def longitude(self) -> float:
        return self._float("longitude")

    def metro_code(self) -> int:
        return self._int("metro_code")

    def postal_code(self) -> str:
        return self._str("postal_code")

    def proxy_description(self) -> str:
        return self._str("proxy_description")

    def proxy_type(self) -> str:
        return self._str("proxy_type")

    def region(self) -> str | None:
        value = self._record.get("region")
        return value if isinstance(value, str) else None

    def utc_offset(self) -> datetime.timezone | None:
        """``-700`` (HHMM) as UTC-07:00; ``None`` if missing or invalid."""
        value = self._record.get("utc_offset")
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        hours, minutes = divmod(abs(value), 100)
        if minutes >= 60 or hours >= 24:
            return None
        sign = -1 if value < 0 else 1
        return datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=minutes))

    def raw(self) -> dict[str, Any]:
        """The whole record as configured (a copy); compute-emu addition."""
        return dict(self._record)

    def __repr__(self) -> str:
        return f"Geo(city={self.city()!r}, country_code={self.country_code()!r})"
