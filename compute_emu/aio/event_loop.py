"""Which asyncio event loop ``serve`` runs on: uvloop where it is installed, else asyncio's.

uvloop (libuv, the loop uvicorn uses) runs compute-emu's protocols and timers in C: in
``make bench`` it took hello-world requests at 50 connections from 0.90x to 1.20x a bare
anyio+h11 server on asyncio's loop. Everything compute-emu does works on both loops; the tests
run the in-process servers on asyncio's and ``serve`` on the default, so both are exercised.
"""

from __future__ import annotations

import importlib.util

from ..errors import UserError

CHOICES = ("auto", "asyncio", "uvloop")


def uvloop_installed() -> bool:
    """True if ``import uvloop`` would work."""
    try:
        return importlib.util.find_spec("uvloop") is not None
    except (ImportError, ValueError):
        return False


def backend_options(choice: str) -> dict[str, object]:
    """anyio's asyncio backend options for ``--loop choice``."""
    if choice not in CHOICES:
        raise UserError(f"--loop {choice}: expected one of {', '.join(CHOICES)}")
    if choice == "asyncio":
        return {}
    if not uvloop_installed():
        if choice == "uvloop":
            raise UserError("--loop uvloop: uvloop is not installed (pip install uvloop)")
        return {}
    return {"use_uvloop": True}


def loop_name(options: dict[str, object]) -> str:
    """``"uvloop"`` or ``"asyncio"``, for the startup log."""
    return "uvloop" if options.get("use_uvloop") else "asyncio"
