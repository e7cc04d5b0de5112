"""`compute-emu build` of a compute_emu.sdk app (the SDK itself goes into the component, with
an export that runs main() per request through the SDK's Wasm host), and the component under
`serve --wasm`. The app (tests/wasm_apps/sdk_main.py over the fanout-forward starter) is built
once per run (``sdk_built``); its Fanout paths are tested in tests/test_starters.py, natively
and as this component. These tests need compute_emu.sdk._wit_host (the SDK's Wasm host)."""

from __future__ import annotations

import shutil

import httpx
import pytest

from tests.conftest import Spawner
from tests.wasm_support import (
    Built,
    fastly_compute_build,
    package_members,
    serve_wasm,
    wit_imports,
)

pytestmark = pytest.mark.timeout(900)  # the first test builds the app and compiles it

NAME = "Fanout-forwarding-starter-kit-for-Python"


def test_the_build_holds_the_sdk_and_warns_about_sockets(sdk_built: Built):
    members = package_members(sdk_built.project / "pkg" / f"{NAME}.tar.gz")
    assert sorted(members) == [NAME, f"{NAME}/bin", f"{NAME}/bin/main.wasm", f"{NAME}/fastly.toml"]
    wasm = sdk_built.wasm.read_bytes()
    assert members[f"{NAME}/bin/main.wasm"] == wasm
    assert b"compute_emu_export" in wasm and b"serve_request" in wasm
    source = (sdk_built.project / "src" / "main.py").read_text().splitlines()
    line = next(i for i, text in enumerate(source, 1) if "import socket" in text)
    assert f"src/main.py:{line}: warning: import socket: no sockets on Compute" in sdk_built.output
    imports, exports = wit_imports(sdk_built.wasm)
    assert imports and all(i.startswith(("fastly:compute/", "wasi:")) for i in imports), imports
    assert exports == ["fastly:compute/http-incoming@0.1.0"]


def test_main_runs_per_request_and_an_exception_is_a_500_not_a_trap(
    sdk_built: Built, spawn: Spawner, tmp_path
):
    served = serve_wasm(spawn, sdk_built.copy_to(tmp_path))
    r = httpx.get(served.url + "/wasm/hello")
    assert (r.status_code, r.text) == (200, "hello from compute_emu.sdk in the component\n")
    served.child.wait_for(r"printed by main\(\) in the component")
    r = httpx.get(served.url + "/wasm/raise")
    assert r.status_code == 500
    assert "the component trapped" not in r.text
    served.child.wait_for(r"GET /wasm/raise 500")
    assert httpx.get(served.url + "/wasm/hello").status_code == 200


def test_fastly_compute_build_of_the_starter_builds_through_compute_emu(sdk_built: Built, tmp_path):
    """language = "python": the Fastly CLI checks for Python >= 3.12 and uv on PATH, runs
    [scripts] build (compute-emu build) and packs compute-emu's component."""
    project = sdk_built.copy_to(tmp_path)
    shutil.rmtree(project / "pkg")
    (project / "bin" / "main.wasm").unlink()
    result = fastly_compute_build(project, tmp_path / "home")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert f"Built package (pkg/{NAME}.tar.gz)" in result.stdout
    wasm = package_members(project / "pkg" / f"{NAME}.tar.gz")[f"{NAME}/bin/main.wasm"]
    assert wasm is not None and b"compute_emu_export" in wasm
