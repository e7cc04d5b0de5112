"""compute_emu/wasm/scan.py and extensions.py: what will not work on Compute, read from the
source (table tests: every case whole, no build)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from compute_emu.wasm.extensions import native_module
from compute_emu.wasm.scan import Finding, foreign_imports, scan, top_level_names


def findings(source: str, native=lambda name: None) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(f) for f in scan("app.py", textwrap.dedent(source), native)]


SCAN_CASES = [
    # (source, findings)
    ("import os\nimport json\n", []),
    (
        "import ssl\n",
        [
            "app.py:1: error: import ssl: no such module in Wasm CPython (TLS is the "
            "platform's on Compute: send() to an https backend)"
        ],
    ),
    (
        "import resource\n",
        [
            "app.py:1: error: import resource: no such module in Wasm CPython (there are no "
            "process limits to read on Compute)"
        ],
    ),
    (  # guarded: the ImportError is caught, the module still loads
        "try:\n    import resource\nexcept ImportError:\n    resource = None\n",
        [
            "app.py:2: warning: import resource fails on Compute: ModuleNotFoundError (there "
            "are no process limits to read on Compute)"
        ],
    ),
    (  # inside a function: fails when called, not when loaded
        "def f():\n    import ctypes\n",
        [
            "app.py:2: warning: import ctypes fails on Compute: ModuleNotFoundError (no C "
            "libraries on Compute)"
        ],
    ),
    (  # typing only: never runs
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import ssl\n",
        [],
    ),
    (
        "import socket\n",
        [
            "app.py:1: warning: import socket: no sockets on Compute: a connection traps the "
            "whole request (send() to a backend instead)"
        ],
    ),
    (
        "from threading import Thread\n",
        [
            "app.py:1: warning: import threading: no threads on Compute: starting one raises "
            "RuntimeError"
        ],
    ),
    (
        "import asyncio, subprocess\n",
        [
            "app.py:1: warning: import asyncio: no event loop on Compute: asyncio.run() traps "
            "the whole request",
            "app.py:1: warning: import subprocess: no processes on Compute",
        ],
    ),
    (
        "from concurrent import futures\n",
        ["app.py:1: warning: import concurrent.futures: no threads or processes on Compute"],
    ),
    (  # files outside the project: absolute, home, climbing up; inside it is fine
        "open('/etc/hosts')\nopen('data.txt')\nPath('../secrets')\nopen('~/x')\n",
        [
            "app.py:1: warning: '/etc/hosts': no file system on Compute (files outside the "
            "project are not there)",
            "app.py:3: warning: '../secrets': no file system on Compute (files outside the "
            "project are not there)",
            "app.py:4: warning: '~/x': no file system on Compute (files outside the project "
            "are not there)",
        ],
    ),
    (  # a guarded use (getattr with a default) is fine
        "import time\nt = time.thread_time()\nu = getattr(time, 'thread_time', time.time)()\n",
        [
            "app.py:2: warning: time.thread_time: AttributeError on Compute (no per-thread CPU "
            "clock in Wasm CPython (time.process_time is))"
        ],
    ),
    ("def main(:\n", ["app.py:1: error: syntax error: invalid syntax"]),
]


@pytest.mark.parametrize(("source", "expected"), SCAN_CASES)
def test_scan(source: str, expected: list[str]):
    assert findings(source) == expected


def test_a_c_extension_fails_the_build_only_when_it_loads_with_the_app():
    native = {"fastjson": "fastjson._speedups"}.get
    assert findings("import fastjson\n", native) == [
        "app.py:1: error: import fastjson: loads the C extension module fastjson._speedups, "
        "built for this machine, not for Wasm"
    ]
    assert findings("def f():\n    import fastjson\n", native) == [
        "app.py:2: warning: import fastjson: loads the C extension module fastjson._speedups, "
        "built for this machine, not for Wasm"
    ]


def test_finding_text():
    assert str(Finding("src/main.py", 3, "x", fatal=True)) == "src/main.py:3: error: x"


def test_top_level_names():
    source = "import a.b\nfrom c import d as e\ndef main(): pass\nX = 1\nclass K: pass\n"
    assert top_level_names(__import__("ast").parse(source)) == {"a", "e", "main", "X", "K"}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


NATIVE_CASES = [
    # (files, module imported, C extension it loads)
    ({"pure.py": ""}, "pure", None),
    ({"fast.cpython-313-x86_64-linux-gnu.so": ""}, "fast", "fast"),
    (
        {"pkg/__init__.py": "from ._native import f\n", "pkg/_native.abi3.so": ""},
        "pkg",
        "pkg._native",
    ),
    (  # a helper the package never imports at load time (fastly_compute's build tool)
        {
            "pkg/__init__.py": "import os\n",
            "pkg/tool.py": "from ._native import run\n",
            "pkg/_native.abi3.so": "",
        },
        "pkg",
        None,
    ),
    (  # ... until the app imports that helper itself
        {
            "pkg/__init__.py": "",
            "pkg/tool.py": "from ._native import run\n",
            "pkg/_native.abi3.so": "",
        },
        "pkg.tool",
        "pkg._native",
    ),
    (  # only inside a function of the package: not at load time
        {"pkg/__init__.py": "def f():\n    from . import _native\n", "pkg/_native.abi3.so": ""},
        "pkg",
        None,
    ),
    ({}, "json", None),  # the standard library (not in the roots)
]


@pytest.mark.parametrize(("files", "module", "expected"), NATIVE_CASES)
def test_native_module(tmp_path: Path, files: dict[str, str], module: str, expected: str | None):
    assert native_module(module, [write(tmp_path, files)]) == expected


FOREIGN_CASES = [
    # (module, is package, source, what it imports from outside compute_emu.sdk)
    (
        "compute_emu.sdk.geo",
        False,
        "from compute_emu.platform.lookups import x\n",
        [(1, "compute_emu.platform.lookups")],
    ),
    (
        "compute_emu.sdk.cache.core",
        False,
        "from ...cache.store import Store\n",
        [(1, "compute_emu.cache.store")],
    ),
    ("compute_emu.sdk.cache", True, "from . import core\nfrom .._body import Body\n", []),
    ("compute_emu.sdk.geo", False, "import compute_emu\nfrom compute_emu.sdk import x\n", []),
    (  # never runs in the component: typing only, or in a function (the native host's path)
        "compute_emu.sdk._host",
        False,
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..runtime import host\n"
        "def native():\n    from compute_emu.runtime import host\n",
        [],
    ),
]


@pytest.mark.parametrize(("module", "is_package", "source", "expected"), FOREIGN_CASES)
def test_foreign_imports(
    module: str, is_package: bool, source: str, expected: list[tuple[int, str]]
):
    tree = __import__("ast").parse(source)
    assert list(foreign_imports(tree, module, is_package, "compute_emu.sdk")) == expected
