"""Device detection: mirrors ``fastly::device_detection`` (``lookup(user_agent)``, ``Device``).

::

    from compute_emu.sdk import device_detection

    device = device_detection.lookup(req.get_header_str("user-agent") or "")
    if device and device.is_mobile():
        ...

Records come from ``[local_server.device_detection]`` and match the exact User-Agent. Viceroy's
record layout is ``{user_agent = {...}, os = {...}, device = {name, brand, model, hwtype,
is_desktop, is_mobile, ...}}``; the getters read the ``device`` table (``device_name()`` reads
``device.name``).

Deliberate differences from Rust: getters return ``None`` when the record lacks the field or has
another type, as Rust's ``Option``; ``raw()`` returns the whole record. The function is also
exported from ``compute_emu.sdk`` as ``device_lookup``. A ``format = "json"`` file is read on
every lookup, as Viceroy does; if it has become invalid, ``lookup`` raises ``RuntimeError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._interface import HostError
from ._variants import host


def lookup(user_agent: str) -> Device | None:
    """The device record for exactly this User-Agent, or ``None``."""
    runtime = host("device_detection.lookup()")
    try:
        record = runtime.device_lookup(user_agent)
    except HostError as exc:  # e.g. the JSON file broke since start-up: Viceroy's host panics
        raise RuntimeError(f"device detection lookup failed: {exc}") from None
    return None if record is None else Device(record)


class Device:
    """The device data associated with a User-Agent string."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        self._record = dict(record)
        device = record.get("device")
        self._device: Mapping[str, Any] = device if isinstance(device, Mapping) else {}

    def _str(self, name: str) -> str | None:
        value = self._device.get(name)
        return value if isinstance(value, str) else None

    def _bool(self, name: str) -> bool | None:
        value = self._device.get(name)
        return value if isinstance(value, bool) else None

    def device_name(self) -> str | None:
        return self._str("name")

    def brand(self) -> str | None:
        return self._str("brand")

    def model(self) -> str | None:
        return self._str("model")

    def hwtype(self) -> str | None:
        return self._str("hwtype")

    def is_bot(self) -> bool | None:
        return self._bool("is_bot")

    def is_desktop(self) -> bool | None:
        return self._bool("is_desktop")

    def is_downloader(self) -> bool | None:
        return self._bool("is_downloader")

    def is_ereader(self) -> bool | None:
        return self._bool("is_ereader")

    def is_gameconsole(self) -> bool | None:
        return self._bool("is_gameconsole")

    def is_mediaplayer(self) -> bool | None:
        return self._bool("is_mediaplayer")

    def is_mobile(self) -> bool | None:
        return self._bool("is_mobile")

    def is_smarttv(self) -> bool | None:
        return self._bool("is_smarttv")

    def is_tablet(self) -> bool | None:
        return self._bool("is_tablet")

    def is_touchscreen(self) -> bool | None:
        return self._bool("is_touchscreen")

    def is_tvplayer(self) -> bool | None:
        return self._bool("is_tvplayer")

    def raw(self) -> dict[str, Any]:
        """The whole record as configured (a copy); compute-emu addition."""
        return dict(self._record)

    def __repr__(self) -> str:
        return f"Device(name={self.device_name()!r}, brand={self.brand()!r})"
