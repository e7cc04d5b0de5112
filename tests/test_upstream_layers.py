"""Layering: the rules do no I/O, and the upstream client knows neither the SDK nor the server."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT


def modules_after(imports: str) -> set[str]:
    code = f"import sys\n{imports}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_the_rules_import_no_io():
    loaded = modules_after(
        "import compute_emu.rules.framing, compute_emu.rules.backend, compute_emu.rules.handoff"
    )
    assert not loaded & {"anyio", "socket", "ssl", "asyncio", "h11", "select"}


def test_upstream_imports_neither_the_sdk_nor_the_server():
    loaded = modules_after("import compute_emu.upstream.client")
    assert not {m for m in loaded if m.startswith(("compute_emu.sdk", "compute_emu.server"))}
