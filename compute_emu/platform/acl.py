"""``acls``: named IP access lists in the Fastly API's JSON format, as Viceroy reads them.

``acls.NAME = "file.json"`` or ``acls.NAME = { file = "file.json" }``; the file holds
``{"entries": [{"op": "create", "prefix": "1.2.3.0/24", "action": "BLOCK"}, ...]}`` (``op`` is
ignored). Prefixes are ``IP/MASK`` with a mask of 1-32 (IPv4) or 1-128 (IPv6); the address is
normalised to the mask. Actions are case-insensitive ``ALLOW``/``BLOCK``; anything else is kept
(Viceroy accepts it) with a warning. A lookup returns the matching entry with the longest mask, the
last one in the file on a tie; IPv4 prefixes never match IPv6 addresses (IPv4-mapped included).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._common import KeyPath, Section, json_kind, kind_of

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AclEntry:
    """One ACL entry: a normalised prefix and its action (``ALLOW``, ``BLOCK`` or other)."""

    network: Network
    action: str

    @property
    def prefix(self) -> str:
        """``"1.2.3.0/24"``."""
        return str(self.network)

    @property
    def mask(self) -> int:
        return self.network.prefixlen


@dataclass(frozen=True)
class Acl:
    """One named ACL."""

    name: str
    entries: tuple[AclEntry, ...] = ()

    def lookup(self, ip: IPAddress) -> AclEntry | None:
        """Longest matching prefix; the last entry wins on a tie."""
        best: AclEntry | None = None
        for entry in self.entries:
            network = entry.network
            if (
                network.version == ip.version
                and ip in network
                and (best is None or network.prefixlen >= best.network.prefixlen)
            ):
                best = entry
        return best


def parse_prefix(text: str) -> Network:
    """Viceroy's prefix rules; raises ``ValueError`` with a short reason."""
    ip_text, sep, mask_text = text.partition("/")
    if not sep:
        raise ValueError("want IP/MASK")
    if not mask_text.isdigit() or len(mask_text) > 3:
        raise ValueError(f"invalid mask {mask_text!r}")
    mask = int(mask_text)
    ip: IPAddress
    if ":" in ip_text:
        if not 1 <= mask <= 128:
            raise ValueError(f"mask {mask} outside the allowed range 1-128")
        ip = ipaddress.IPv6Address(ip_text)
    else:
        if not 1 <= mask <= 32:
            raise ValueError(f"mask {mask} outside the allowed range 1-32")
        ip = ipaddress.IPv4Address(ip_text)
    return ipaddress.ip_network(f"{ip}/{mask}", strict=False)


def parse_acls(section: Section, local_server: Mapping[str, Any]) -> dict[str, Acl]:
    if "acls" not in local_server:
        return {}
    key: KeyPath = ("local_server", "acls")
    table = section.table(local_server["acls"], key)
    return {name: _parse_acl(section, (*key, name), name, value) for name, value in table.items()}


def _parse_acl(section: Section, key: KeyPath, name: str, value: Any) -> Acl:
    if isinstance(value, str):
        file_key = key
        relative = value
        if not relative.strip():
            section.fail(key, "file name must not be empty")
    elif isinstance(value, dict):
        if "file" not in value:
            section.fail(key, 'missing required key "file" (the ACL\'s JSON file)')
        file_key = (*key, "file")
        relative = section.file_name(value, file_key)
    else:
        section.fail(key, f'expected a file name or {{ file = "..." }}, got {kind_of(value)}')
    data = section.read_json_object(file_key, relative)
    if "entries" not in data:
        section.in_file(file_key, relative, "entries", 'missing (want {"entries": [...]})')
    raw_entries = data["entries"]
    if not isinstance(raw_entries, list):
        section.in_file(
            file_key, relative, "entries", f"expected an array, not {json_kind(raw_entries)}"
        )
    entries = []
    for i, raw in enumerate(raw_entries):
        where = f"entries[{i}]"
        if not isinstance(raw, dict):
            section.in_file(file_key, relative, where, f"expected an object, not {json_kind(raw)}")
        for field in ("prefix", "action"):
            if field not in raw:
                section.in_file(file_key, relative, where, f'missing "{field}"')
            if not isinstance(raw[field], str):
                section.in_file(
                    file_key,
                    relative,
                    f"{where}.{field}",
                    f"expected a string, not {json_kind(raw[field])}",
                )
        try:
            network = parse_prefix(raw["prefix"])
        except ValueError as exc:
            section.in_file(
                file_key, relative, f"{where}.prefix", f"invalid prefix {raw['prefix']!r}: {exc}"
            )
        action = raw["action"].upper()
        if action not in ("ALLOW", "BLOCK"):
            action = raw["action"]
            section.warn(
                file_key,
                f'"{section.resolve(relative)}": {where}.action: {action!r} is neither ALLOW nor '
                "BLOCK; a lookup that matches it fails",
            )
        entries.append(AclEntry(network, action))
    return Acl(name, tuple(entries))
