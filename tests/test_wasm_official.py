"""`compute-emu build` of an official-SDK app, and its component under `serve --wasm`.

The app (tests/wasm_apps/official_main.py over the fanout-forward-official starter) is built
once per run (the ``official_built`` fixture); its Fanout paths are tested in
tests/test_official_fanout.py, natively and as this component. Here: the build's outputs,
the component's world, and what the component's side of the host does (output, environment,
bodies, buffer sizes, WIT errors, traps, a rebuilt component).
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Spawner
from tests.test_starters import rewrite_manifest
from tests.wasm_support import (
    Built,
    fastly_compute_build,
    package_members,
    run_build,
    serve_wasm,
    wit_imports,
)

pytestmark = pytest.mark.timeout(900)  # the first test builds the app and compiles it

NAME = "Fanout-forwarding-starter-kit-for-the-official-Python-SDK"


def test_the_build_writes_the_component_and_the_package_the_fastly_cli_would(
    official_built: Built,
):
    project = official_built.project
    members = package_members(project / "pkg" / f"{NAME}.tar.gz")
    assert sorted(members) == [NAME, f"{NAME}/bin", f"{NAME}/bin/main.wasm", f"{NAME}/fastly.toml"]
    assert members[f"{NAME}/bin/main.wasm"] == official_built.wasm.read_bytes()
    assert members[f"{NAME}/fastly.toml"] == (project / "fastly.toml").read_bytes()
    assert official_built.wasm.read_bytes()[:4] == b"\0asm"
    # the scan ran before the build: the function-level socket import is warned about, with
    # file and line, and did not stop the build
    line = next(
        i
        for i, text in enumerate((project / "main.py").read_text().splitlines(), 1)
        if "import socket" in text
    )
    assert f"main.py:{line}: warning: import socket: no sockets on Compute" in official_built.output


def test_a_second_build_of_the_same_sources_runs_no_toolchain(official_built: Built, tmp_path):
    again = run_build(official_built.project)
    assert again.returncode == 0, again.stderr
    assert "bin/main.wasm is up to date" in again.stdout
    assert "fastly-compute-py build" not in again.stdout
    # another checkout of the same sources takes the component from the build cache
    copy = official_built.copy_to(tmp_path)
    (copy / "bin" / "main.wasm").unlink()
    elsewhere = run_build(copy)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert "taken from the build cache" in elsewhere.stdout
    assert (copy / "bin" / "main.wasm").read_bytes() == official_built.wasm.read_bytes()


def test_the_component_imports_only_fastly_compute_and_wasi(official_built: Built):
    imports, exports = wit_imports(official_built.wasm)
    assert imports and all(i.startswith(("fastly:compute/", "wasi:")) for i in imports), imports
    assert exports == ["fastly:compute/http-incoming@0.1.0"]


def test_the_components_side_of_the_host(official_built: Built, spawn: Spawner, tmp_path):
    served = serve_wasm(spawn, official_built.copy_to(tmp_path))
    r = httpx.get(served.url + "/wasm/hello")
    assert (r.status_code, r.text) == (200, "hello from the component\n")
    served.child.wait_for(r"printed by the component")  # WASI stdout: the request's log
    env = dict(line.split("=", 1) for line in httpx.get(served.url + "/wasm/env").text.split("\n"))
    assert env["FASTLY_SERVICE_VERSION"] == "0" and len(env["FASTLY_TRACE_ID"]) == 32
    body = bytes(range(256)) * 400  # 100 KB through http-body reads
    r = httpx.post(served.url + "/wasm/echo", content=body.decode("latin-1").encode())
    assert r.status_code == 200 and len(r.content) > 100_000
    # a 1 KB header asked for with a 16-byte buffer: the host retries with the length needed
    r = httpx.get(served.url + "/wasm/header", headers={"x-big": "v" * 1000})
    assert r.text == "1000 vvvvvvvvvv"
    # an import compute-emu lacks answers the WIT's Unsupported, which the SDK raises
    r = httpx.get(served.url + "/wasm/unsupported")
    assert (r.status_code, r.text) == (501, "Unsupported")


def test_sixteen_clients_at_once_all_get_their_answers(
    official_built: Built, spawn: Spawner, tmp_path
):
    """Requests run on several threads; wasmtime-py's value conversions are not thread-safe
    (compute_emu/wasm/guest.py): before the guest lock, ~1 host result in 1,000 trapped at
    16 concurrent clients."""
    served = serve_wasm(spawn, official_built.copy_to(tmp_path))

    def client(_: int) -> list[tuple[int, str]]:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            return [
                (r.status_code, r.text)
                for r in (http.get("/wasm/header", headers={"x-big": "v" * 40}) for _ in range(100))
            ]

    with ThreadPoolExecutor(16) as pool:
        answers = [a for batch in pool.map(client, range(16)) for a in batch]
    assert len(answers) == 1600
    assert set(answers) == {(200, "40 vvvvvvvvvv")}


def test_traps_are_500s_that_say_what_trapped(official_built: Built, spawn: Spawner, tmp_path):
    served = serve_wasm(spawn, official_built.copy_to(tmp_path))
    r = httpx.get(served.url + "/wasm/raise")
    assert r.status_code == 500
    assert "the component trapped" in r.text
    assert "wasm backtrace (innermost first):" in r.text
    assert "ValueError: raised by the component" in r.text  # the component's stderr
    r = httpx.get(served.url + "/wasm/unimplemented")
    assert r.status_code == 500
    assert "fastly:compute/shielding@0.1.0#[constructor]shield-backend-options" in r.text
    assert "not implemented by compute-emu" in r.text
    # the instance that trapped is gone; the next request gets a fresh one
    assert httpx.get(served.url + "/wasm/hello").status_code == 200


def test_a_rebuilt_component_is_served_without_a_restart(
    official_built: Built, spawn: Spawner, tmp_path
):
    project = official_built.copy_to(tmp_path)
    served = serve_wasm(spawn, project)
    assert httpx.get(served.url + "/wasm/hello").status_code == 200
    wasm = project / "bin" / "main.wasm"
    good = wasm.read_bytes()
    wasm.write_bytes(b"\0asm not a component")
    deadline = time.monotonic() + 30
    while (r := httpx.get(served.url + "/wasm/hello")).status_code == 200:
        assert time.monotonic() < deadline, "the broken component was never loaded"
        time.sleep(0.1)
    assert r.status_code == 500 and "not a WebAssembly component" in r.text
    wasm.write_bytes(good)
    while (r := httpx.get(served.url + "/wasm/hello")).status_code != 200:
        assert time.monotonic() < deadline + 30, r.text
        time.sleep(0.1)
    served.child.wait_for(r"app reloaded \(main\.wasm changed\)")


def test_fastly_compute_build_packages_compute_emus_build(official_built: Built, tmp_path):
    """The Fastly CLI (npm @fastly/cli) in a project whose [scripts] build is compute-emu's:
    with language = "python" it first wants Python >= 3.12 first on PATH and uv on PATH."""
    project = official_built.copy_to(tmp_path)
    rewrite_manifest(project, 'language = "other"', 'language = "python"')
    shutil.rmtree(project / "pkg")
    (project / "bin" / "main.wasm").unlink()
    result = fastly_compute_build(project, tmp_path / "home")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert f"Built package (pkg/{NAME}.tar.gz)" in result.stdout
    members = package_members(project / "pkg" / f"{NAME}.tar.gz")
    wasm = members[f"{NAME}/bin/main.wasm"]
    assert wasm == (project / "bin" / "main.wasm").read_bytes()
    assert wasm is not None and b"raised by the component" in wasm  # this app's own code
    assert members[f"{NAME}/fastly.toml"] == (project / "fastly.toml").read_bytes()
