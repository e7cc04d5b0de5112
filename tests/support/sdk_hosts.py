"""The two hosts of ``compute_emu.sdk`` in the end-to-end tests: native, and the Wasm host.

A test module that sets ``SDK_HOSTS = BOTH`` runs each of its tests twice (``[native]`` and
``[wit]``): its ``serve`` (and the fixtures built on it) start ``compute-emu serve`` once
as usual and once with ``--sdk-host wit``, where every SDK call goes through the SDK's Wasm
host and compute-emu's own ``wit_world`` (``compute_emu/official/loopback.py``): the same
answers are expected. The Wasm path needs the official SDK's stubs, so that server runs under
``.venv-official`` (Python >= 3.12, made by ``scripts/official-env``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.processes import ROOT

BOTH = ("native", "wit")
OFFICIAL_PY = ROOT / ".venv-official" / "bin" / "python"
SETUP = "bash scripts/official-env"


def require_official_env() -> Path:
    """The env's python; in CI (or with COMPUTE_EMU_NO_SKIP) its absence fails the test."""
    if not OFFICIAL_PY.exists():
        message = f".venv-official is missing (Python 3.12+ with fastly-compute): run {SETUP}"
        if os.environ.get("CI") or os.environ.get("COMPUTE_EMU_NO_SKIP"):
            pytest.fail(message)
        pytest.skip(message)
    return OFFICIAL_PY


def host_params(hosts: tuple[str, ...]) -> list[object]:
    """``hosts`` as pytest params, with their names as ids."""
    return [pytest.param(host, id=host) for host in hosts]


def serve_argv(sdk_host: str, *args: str) -> list[str]:
    """argv of ``python -m compute_emu serve ARGS`` for ``sdk_host`` (the Wasm host runs
    under the 3.12+ env)."""
    import sys

    python = str(require_official_env()) if sdk_host == "wit" else sys.executable
    return [python, "-m", "compute_emu", "serve", *args]


def serve_env(sdk_host: str) -> dict[str, str] | None:
    """What the server's environment adds for ``sdk_host``."""
    return {"COMPUTE_EMU_SDK_HOST": "wit"} if sdk_host == "wit" else None
