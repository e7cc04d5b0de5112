"""Names, keys and addresses as Fastly reads them: pure rules, standard library only.

The SDK checks what it is given with these before it asks its host, and the local platform
(``compute_emu.platform``) checks fastly.toml with the same ones, so a name is good or bad
in one place.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Config store keys are at most this many characters, values at most ``CONFIG_VALUE_MAX_CHARS``.
CONFIG_KEY_MAX_CHARS = 256
CONFIG_VALUE_MAX_CHARS = 8000
#: Config store names are at most this many characters.
CONFIG_NAME_MAX_CHARS = 255

_SECRET_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")


def parse_ip(text: str) -> IPAddress:
    """An IP address as Rust's ``IpAddr::from_str`` reads it (no zone, no brackets)."""
    if "%" in text:
        raise ValueError(f"{text!r} is not an IP address (zone identifiers are not accepted)")
    return ipaddress.ip_address(text)


def secret_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid secret store or secret name, or ``None``."""
    if not name:
        return "names cannot be empty"
    if len(name.encode("utf-8", "replace")) > 255:
        return "names are at most 255 bytes"
    if not _SECRET_NAME.fullmatch(name):
        return "names may only contain letters, digits, '-', '_' and '.'"
    return None
