"""The suite's own layering (tests/support/layers.py): every file has a layer, every name in
the tables is a test that exists, and the guard refuses what a layer does not allow."""

from __future__ import annotations

import ast
import functools
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support import layers
from tests.support.layers import E2E, INPROCESS, UNIT, Guard, LayerViolation

TESTS_DIR = Path(__file__).parent


@functools.cache
def functions_by_file() -> dict[str, set[str]]:
    """Each tests/test_*.py and the names of its top-level test functions."""
    found = {}
    for path in sorted(TESTS_DIR.glob("test_*.py")):
        tree = ast.parse(path.read_text(), str(path))
        found[path.name] = {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
        }
    return found


def test_every_test_file_has_a_layer_and_every_layer_entry_a_file() -> None:
    files = functions_by_file()
    unclassified = sorted(set(files) - set(layers.FILES))
    assert not unclassified, (
        f"no layer for {unclassified}: add each to FILES in tests/support/layers.py "
        "(unit: no sockets, no processes; inprocess: sockets in this process; e2e: processes)"
    )
    assert not sorted(set(layers.FILES) - set(files)), "FILES names files that are gone"
    assert set(layers.FILES.values()) <= set(layers.LAYERS)


def test_every_named_test_exists() -> None:
    files = functions_by_file()
    for entry in [*layers.TESTS, *layers.SLOW]:
        file, _, function = entry.partition("::")
        assert file in files, f"{entry}: no such file"
        assert not function or function in files[file], f"{entry}: no such test function"
    assert set(layers.TESTS.values()) <= set(layers.LAYERS)


def test_a_test_that_names_no_exception_has_its_files_layer() -> None:
    assert layers.layer_of("test_rules_chunked.py", "test_x", ["request"]) == UNIT
    assert layers.layer_of("test_relay.py", "test_public_api", []) == UNIT  # from TESTS
    assert layers.layer_of("test_new_file.py", "test_x", []) == E2E  # unclassified


def test_fixtures_raise_the_layer_never_lower_it() -> None:
    assert layers.layer_of("test_rules_chunked.py", "test_x", ["net"]) == INPROCESS
    assert layers.layer_of("test_admission.py", "test_x", ["serve", "spawn"]) == E2E
    assert layers.layer_of("test_serve.py", "test_x", ["net"]) == E2E


def test_a_test_on_the_sdks_wasm_host_is_e2e() -> None:
    assert layers.layer_of("test_cache_api.py", "test_x", ["sdk_host"], "native") == INPROCESS
    assert layers.layer_of("test_cache_api.py", "test_x", ["sdk_host"], "wit") == E2E


def test_slow_names_a_whole_file_or_one_function() -> None:
    assert layers.is_slow("test_fuzz_manifest.py", "test_random_bytes")
    assert layers.is_slow("test_aborts.py", "test_a_thousand_of_each_abort_leave_nothing_behind")
    assert not layers.is_slow("test_relay.py", "test_public_api")


def inet() -> SimpleNamespace:
    return SimpleNamespace(family=socket.AF_INET)


def test_the_guard_refuses_sockets_in_unit_tests_and_processes_below_e2e() -> None:
    guard = Guard()
    guard.enter("tests/test_x.py::test_y", UNIT)
    with pytest.raises(LayerViolation, match=r"test_y is a unit test but connects a socket"):
        guard.audit("socket.connect", (inet(), ("127.0.0.1", 80)))
    with pytest.raises(LayerViolation, match=r"starts a process \(subprocess.Popen 'git'\)"):
        guard.audit("subprocess.Popen", ("git", ["git"], None, None))
    guard.audit("open", ("/tmp/x", "r", 0))  # anything else is fine
    assert len(guard.leave()) == 2

    guard.enter("tests/test_x.py::test_z", INPROCESS)
    guard.audit("socket.bind", (inet(), ("127.0.0.1", 0)))
    with pytest.raises(LayerViolation, match=r"tests/support/layers\.py"):
        guard.audit("os.posix_spawn", ("/bin/true", ["true"], {}))
    assert guard.leave() == [guard_message("test_z", INPROCESS, "os.posix_spawn '/bin/true'")]

    guard.enter("tests/test_x.py::test_e2e", E2E)
    guard.audit("subprocess.Popen", ("pushpin", ["pushpin"], None, None))
    assert guard.leave() == []
    guard.audit("subprocess.Popen", ("between", ["tests"], None, None))  # no test running


def guard_message(test: str, layer: str, what: str) -> str:
    return (
        f"tests/test_x.py::{test} is a {layer} test but starts a process ({what}): give it "
        "its layer in tests/support/layers.py (FILES or TESTS)"
    )


def test_files_with_soak_tests_then_e2e_then_inprocess_then_unit_each_file_whole() -> None:
    def item(path: str, layer: str, slow: bool = False) -> SimpleNamespace:
        return SimpleNamespace(path=Path(path), layer=layer, slow=slow)

    items = [
        unit := item("test_a.py", UNIT),
        mixed_1 := item("test_b.py", UNIT),
        mixed_2 := item("test_b.py", E2E),
        inproc := item("test_c.py", INPROCESS),
        e2e_1 := item("test_d.py", E2E),
        soak_1 := item("test_e.py", UNIT),
        soak_2 := item("test_e.py", UNIT, slow=True),
        e2e_2 := item("test_d.py", E2E),
    ]
    ordered = layers.longest_files_first(items, lambda i: i.layer, lambda i: i.slow)
    # test_d.py has two end-to-end tests, test_b.py one
    assert ordered == [soak_1, soak_2, e2e_1, e2e_2, mixed_1, mixed_2, inproc, unit]
