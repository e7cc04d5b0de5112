"""compute-emu's async house rules, checked on its source: no private imports of any library;
asyncio and uvloop spoken only in ``compute_emu/aio/`` (the one room for them); every thread
hop through the worker pool, apart from the exceptions listed here with their reasons."""

from __future__ import annotations

import ast
import functools
from collections import Counter
from pathlib import Path

import compute_emu

PACKAGE = Path(compute_emu.__file__).parent
ROOM = PACKAGE / "aio"

# Modules outside aio/ that import asyncio, and why.
ASYNCIO_ELSEWHERE = {
    # names asyncio's folder, to hide its frames in the app's tracebacks; runs none of it
    "runtime/app_errors.py": "frames",
    # the cache's fills and background revalidations (asyncio.Event, wait_for, a task set):
    # not moved yet; anyio's Event, fail_after and a task group would do the same
    "cache/store.py": "not moved yet",
    "cache/body.py": "not moved yet",
}

# Thread hops that do not go through the worker pool (aio/workers.py), and why: (module,
# what) -> how many.
OTHER_THREADS = {
    # Pushpin's supervisor also runs without a server (its tests) and stops after the
    # server's pool has closed: its two clean-ups at a restart or stop (signal and wait for
    # stray processes, let the watchdog go) use anyio's thread
    ("pushpin/supervisor.py", "to_thread"): 2,
    # the test API: the emulator runs a server on a loop of its own in a thread, so that
    # synchronous tests can use it; `async with emulator` in a test's own event loop starts
    # and stops it from a thread
    ("testing/_emulator.py", "start_blocking_portal"): 1,
    ("testing/_emulator.py", "to_thread"): 2,
    # the test API's clients and mock origins, in the test's process
    ("testing/_stream.py", "Thread"): 1,
    ("testing/_mock.py", "Thread"): 1,
}
THREAD_HOPS = {"to_thread", "run_in_executor", "Thread", "ThreadPoolExecutor"}
THREAD_HOPS |= {"start_blocking_portal", "run_coroutine_threadsafe", "call_soon_threadsafe"}


@functools.cache
def sources() -> list[tuple[str, ast.Module]]:
    """Every module of compute_emu, by its path under the package, parsed."""
    return [
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def imported(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, dotted name) of each absolute import: ``from a.b import c`` gives ``a.b.c``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def is_private(name: str) -> bool:
    """A dotted name with a part that starts with ``_`` (``__future__`` and the like aside)."""
    return any(p.startswith("_") and not p.endswith("__") for p in name.split("."))


def test_no_module_imports_a_private_name_of_a_library() -> None:
    found = [
        f"compute_emu/{module}:{line}: {name}"
        for module, tree in sources()
        for line, name in imported(tree)
        if name.split(".")[0] != "compute_emu" and is_private(name)
    ]
    assert found == []


def test_the_scan_sees_a_private_import() -> None:
    tree = ast.parse(
        "import anyio\nfrom anyio._backends._asyncio import SocketStream\n"
        "from ssl import _create_unverified_context\nfrom __future__ import annotations\n"
    )
    names = [name for _, name in imported(tree) if is_private(name)]
    assert names == ["anyio._backends._asyncio.SocketStream", "ssl._create_unverified_context"]


def test_asyncio_and_uvloop_are_imported_only_in_the_aio_room() -> None:
    speaking = {
        module
        for module, tree in sources()
        for _, name in imported(tree)
        if name.split(".")[0] in ("asyncio", "uvloop") and not module.startswith("aio/")
    }
    assert speaking == set(ASYNCIO_ELSEWHERE)


def called(call: ast.Call) -> set[str]:
    """The names along a call's function: ``anyio.to_thread.run_sync(f)`` gives
    ``{"anyio", "to_thread", "run_sync"}``."""
    names = set()
    node: ast.expr = call.func
    while isinstance(node, ast.Attribute):
        names.add(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        names.add(node.id)
    return names


def test_every_thread_hop_goes_through_the_worker_pool_or_is_listed() -> None:
    hops: Counter[tuple[str, str]] = Counter()
    for module, tree in sources():
        if module in ("aio/workers.py", "aio/loop.py"):
            continue  # the pool, and the way from its threads back to the loop
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for name in called(node) & THREAD_HOPS:
                    hops[(module, name)] += 1
    assert hops == Counter(OTHER_THREADS)
