"""The rules room: its HTTP/1.1 codecs do no I/O, and each rule has one door."""

from __future__ import annotations

import inspect

import compute_emu.rules.framing as rules_framing
import compute_emu.server.framing as server_framing
from tests.test_upstream_layers import modules_after


def test_the_codecs_import_no_io():
    loaded = modules_after(
        "import compute_emu.rules.http1_server, compute_emu.rules.http1_client, "
        "compute_emu.rules.http1_head, compute_emu.rules.http1_state"
    )
    assert not loaded & {"anyio", "socket", "ssl", "asyncio", "h11", "select"}
    assert not {m for m in loaded if m.startswith(("compute_emu.server", "compute_emu.upstream"))}


def test_the_client_half_does_not_import_the_server_half():
    loaded = modules_after("import compute_emu.rules.http1_client")
    assert "compute_emu.rules.http1_server" not in loaded


def test_header_and_framing_rules_are_reached_through_rules_framing_only():
    """server/framing.py keeps what the server writes itself; it re-exports nothing."""
    rules = {
        name
        for name, value in vars(rules_framing).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value) or name.isupper())
        and getattr(value, "__module__", rules_framing.__name__) == rules_framing.__name__
    }
    assert rules >= {"end_to_end", "header_value", "connection_tokens", "FRAMING"}
    assert not rules & set(vars(server_framing))
