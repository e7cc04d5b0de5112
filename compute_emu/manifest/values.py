"""Rules for manifest values that end up in Pushpin's files (pushpin.conf and the routes file).

A starter can come from a git URL, so its fastly.toml must not be able to rewrite Pushpin's
configuration: a newline in ``sig_iss`` used to start a ``[runner]`` section of its own, and a
newline in a backend name added a route. What is refused here, and why:

- backend names: the Fastly SDK's rule (1-255 characters, visible ASCII or spaces; no control
  characters, no other Unicode), and no leading or trailing space (the name travels to Pushpin
  in a ``Pushpin-Route`` header, which loses them). Everything else is quoted in the routes
  file (see ``compute_emu.pushpin.config``);
- backend URLs: control characters and non-ASCII (Viceroy parses URLs as ASCII; percent-encode
  instead), and host names other than letters, digits, ``-._~`` or an IP address;
- ``override_host``: control characters, whitespace and non-ASCII (never a valid Host);
- ``sig_iss`` and ``sig_key`` (Qt INI values in pushpin.conf): control characters, non-ASCII,
  ``" \\ ; , { }`` (quoting, comments, lists and Pushpin's ``{variables}``), leading or
  trailing whitespace (dropped) and a leading ``@`` (Qt's typed values). Each of these was
  seen to break signing on Pushpin 1.36 (the Grip-Sig no longer verified).
"""

from __future__ import annotations

import ipaddress
import re

BACKEND_NAME_MAX_CHARS = 255
#: Characters Pushpin's configuration format (Qt's INI) gives a meaning to.
CONF_SPECIAL = '"\\;,{}'

_HOST_NAME = re.compile(r"[A-Za-z0-9._~-]+")


def _char(c: str) -> str:
    return f"{c!r} (U+{ord(c):04X})"


def _not_visible_ascii(text: str, *, space: bool = True) -> str | None:
    """The first character that is not visible ASCII (or a space, if allowed)."""
    low = 0x20 if space else 0x21
    return next((c for c in text if not low <= ord(c) <= 0x7E), None)


def backend_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a backend name, or ``None``."""
    if not name:
        return "invalid backend name: names cannot be empty"
    if len(name) > BACKEND_NAME_MAX_CHARS:
        return (
            f"invalid backend name: names are at most {BACKEND_NAME_MAX_CHARS} characters "
            f"(this one has {len(name)})"
        )
    bad = _not_visible_ascii(name)
    if bad is not None:
        return (
            f"invalid backend name: it has {_char(bad)}; backend names may contain only visible "
            "ASCII characters and spaces (the Fastly SDK's rule)"
        )
    if name != name.strip(" "):
        return (
            "invalid backend name: it starts or ends with a space, which the Pushpin-Route "
            "header that carries it to Pushpin would lose"
        )
    return None


def url_characters_problem(url: str) -> str | None:
    """Why ``url`` has characters a backend URL may not have, or ``None``."""
    for c in url:
        if ord(c) < 0x20 or ord(c) == 0x7F:
            return f"{url!r} contains the control character {_char(c)}"
        if ord(c) > 0x7E:
            return f"{url!r} contains {_char(c)}, which is not ASCII; percent-encode it"
    return None


def url_host_problem(host: str) -> str | None:
    """Why ``host`` (as ``urlsplit`` gives it, brackets removed) is not a usable host."""
    if ":" in host:
        try:
            if "%" in host:
                raise ValueError
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"invalid IPv6 address {host!r}"
        return None
    if not _HOST_NAME.fullmatch(host):
        bad = next(c for c in host if not _HOST_NAME.fullmatch(c))
        return (
            f"invalid host name {host!r}: it has {_char(bad)} "
            "(letters, digits, '-', '.', '_' and '~' only)"
        )
    return None


def host_header_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as a Host header (``override_host``), or ``None``."""
    bad = _not_visible_ascii(value, space=False)
    if bad is not None:
        return f"not a valid Host header value: it has {_char(bad)}"
    return None


def conf_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be written into pushpin.conf as it is, or ``None``.

    Names the character at fault, never the value (``sig_key`` is a secret).
    """
    bad = _not_visible_ascii(value)
    if bad is not None:
        return (
            f"has the character {_char(bad)}; values written into Pushpin's configuration may "
            "use visible ASCII characters and spaces only"
        )
    special = next((c for c in value if c in CONF_SPECIAL), None)
    if special is not None:
        return (
            f"has the character {special!r}, which Pushpin's configuration format gives a "
            f"meaning to (refused: {' '.join(CONF_SPECIAL)})"
        )
    if value != value.strip():
        return "starts or ends with a space, which Pushpin's configuration format drops"
    if value.startswith("@"):
        return "starts with '@', which Pushpin's configuration format reads as a typed value"
    return None
