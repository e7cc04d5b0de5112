"""compute-emu's ``wit_world`` against the installed SDK: every name the SDK patches exists, the
interfaces the issue lists are implemented, nothing is left in the user's environment."""

from __future__ import annotations

import json

from tests.official_support import official_project, run_official
from tests.support.processes import run_compute_emu

# Read the SDK's own list of patched functions, install compute-emu's bindings, import the SDK.
CHECK = r"""
import importlib, json, re
import importlib.util
from compute_emu.official import interfaces, world  # interfaces: registers the implementations

root = world.stubs_dir()
world.install(root)
import fastly_compute
import fastly_compute.runtime_patching.patches as patches

source = open(patches.__file__).read()
patched = re.findall(r"^\s+wit_world\.imports\.(\w+)\.([\w.]+) = remap_wit_errors", source, re.M)
missing, wrapped = [], 0
for module, name in patched:
    obj = importlib.import_module("wit_world.imports." + module)
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if obj is None:
        missing.append(f"{module}.{name}")
    elif hasattr(obj, "__wrapped__"):
        wrapped += 1
stand_ins = {}
for path in sorted((root / "wit_world" / "imports").glob("*.py")):
    if path.stem == "__init__":
        continue
    module = importlib.import_module("wit_world.imports." + path.stem)
    for name in [f.name for f in world.read_stub(path).values() if f.stub]:
        owner = module
        for part in name.split("."):
            owner = getattr(owner, part)
        if getattr(getattr(owner, "__wrapped__", owner), "_compute_emu_unsupported", False):
            stand_ins.setdefault(path.stem, []).append(name)
print(json.dumps({
    "patched": len(patched), "missing": missing, "wrapped": wrapped,
    "did_patch": patches.did_patch, "stand_ins": stand_ins,
}))
"""

REQUIRED = [
    "http_req",
    "http_resp",
    "http_body",
    "http_downstream",
    "backend",
    "async_io",
    "config_store",
    "dictionary",
    "kv_store",
    "secret_store",
    "log",
    "geo",
    "device_detection",
    "acl",
    "compute_runtime",
]

# What compute-emu leaves Unsupported in the required interfaces (see compute_emu/official/http.py)
KNOWN_UNSUPPORTED = {
    "http_body": [
        "append_trailer",
        "get_trailer_names",
        "get_trailer_value",
        "get_trailer_values",
    ],
    "http_downstream": [
        "downstream_client_h2_fingerprint",
        "downstream_client_oh_fingerprint",
    ],
    "backend": [
        "Backend.get_http_keepalive_time",
        "Backend.get_tcp_keepalive_enable",
        "Backend.get_tcp_keepalive_interval",
        "Backend.get_tcp_keepalive_probes",
        "Backend.get_tcp_keepalive_time",
    ],
}


def _check() -> dict:
    result = run_official(CHECK)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_function_the_sdk_patches_exists_and_is_wrapped():
    found = _check()
    assert found["did_patch"] is True  # not the SDK's "Faking the run" fallback
    assert found["patched"] > 150
    assert found["missing"] == []
    assert found["wrapped"] == found["patched"]  # each remapped to the SDK's exceptions


def test_the_required_interfaces_are_implemented():
    stand_ins = _check()["stand_ins"]
    left = {module: sorted(names) for module, names in stand_ins.items() if module in REQUIRED}
    assert left == KNOWN_UNSUPPORTED


def test_no_wit_world_in_the_users_environment(tmp_path):
    """Only a running `compute-emu serve` has wit_world: the env itself has none (the real
    build tool reads the env's paths and would pick one up)."""
    result = run_official(
        "import importlib.util as u; "
        "print(u.find_spec('wit_world'), u.find_spec('componentize_py_types'))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None"]


def test_an_older_python_is_a_clear_error(tmp_path):
    """compute-emu's own Python (3.11) cannot run the SDK: serve says which version it needs."""
    project = official_project(tmp_path / "p", "HttpIncoming = object\n")
    result = run_compute_emu("serve", "-C", str(project), "--addr", "127.0.0.1:0")
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "needs Python 3.12 or newer" in message, message
    assert "official fastly-compute SDK project" in message
