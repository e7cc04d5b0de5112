"""Two builds of the same sources take turns on the build cache (compute_emu/wasm/cache_lock.py):
neither reads or removes a build the other is writing, and pruning leaves a build being used."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compute_emu.wasm import build, cache_lock
from compute_emu.wasm.paths import file_digest
from tests.conftest import Spawner
from tests.support.processes import python_module
from tests.wasm_support import CACHE, Built, wasm_env

WAIT = 10  # s, for a thread to reach the point a test waits for


@contextmanager
def locked_by_another(path: Path) -> Iterator[None]:
    """``path`` flock'ed through a file of its own, as another process would hold it."""
    with path.open("a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        yield


class Taker(threading.Thread):
    """``cache_lock.held(entry)`` in a thread, until ``release`` is set."""

    def __init__(self, entry: Path) -> None:
        super().__init__(daemon=True)
        self.entry = entry
        self.waiting = threading.Event()
        self.inside = threading.Event()
        self.release = threading.Event()

    def run(self) -> None:
        with cache_lock.held(self.entry, self.waiting.set):
            self.inside.set()
            self.release.wait(WAIT)


def test_a_second_holder_waits_says_so_once_and_enters_when_the_first_lets_go(tmp_path):
    entry = tmp_path / "builds" / "abc"
    lock = cache_lock.lock_file(entry)
    assert lock == tmp_path / "builds" / "abc.lock"
    first = Taker(entry)
    first.start()
    assert first.inside.wait(WAIT) and not first.waiting.is_set()
    second = Taker(entry)
    second.start()
    assert second.waiting.wait(WAIT)
    assert not second.inside.wait(0.2)
    first.release.set()
    assert second.inside.wait(WAIT)
    second.release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert lock.is_file()  # kept with its entry


def test_a_lock_file_removed_while_waiting_is_made_again_and_taken(tmp_path):
    entry = tmp_path / "abc"
    lock = cache_lock.lock_file(entry)
    lock.touch()
    with locked_by_another(lock):
        taker = Taker(entry)
        taker.start()
        assert taker.waiting.wait(WAIT)
        lock.unlink()  # as a prune does, holding the lock
    assert taker.inside.wait(WAIT)
    assert lock.is_file()
    with lock.open("a") as file:  # the taker holds the new file, not the removed one
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            raise AssertionError("the lock file at its path is not held")
        except BlockingIOError:
            pass
    taker.release.set()
    taker.join(WAIT)


def test_unless_held_takes_a_free_lock_and_removes_its_file_else_says_no(tmp_path):
    entry = tmp_path / "abc"
    lock = cache_lock.lock_file(entry)
    with cache_lock.unless_held(entry) as free:
        assert free and lock.is_file()
    assert not lock.exists()
    lock.touch()
    with locked_by_another(lock), cache_lock.unless_held(entry) as free:
        assert not free
    assert lock.is_file()


def test_pruning_keeps_the_newest_and_any_build_in_use(tmp_path):
    builds = tmp_path / "builds"
    made = []
    for n in range(build.BUILDS_KEPT + 3):
        entry = builds / f"b{n:02}"
        (entry / "stage").mkdir(parents=True)
        cache_lock.lock_file(entry).touch()
        os.utime(entry, (1000 + n, 1000 + n))  # b00 the oldest
        made.append(entry)
    oldest, second, third = made[:3]
    with locked_by_another(cache_lock.lock_file(second)):
        build._prune(builds, keep=oldest)
    kept = sorted(p.name for p in builds.iterdir())
    newest = [p.name for p in made[3:]]
    assert kept == sorted(
        [*newest, oldest.name, f"{oldest.name}.lock", second.name, f"{second.name}.lock"]
        + [f"{name}.lock" for name in newest]
    )
    assert not third.exists() and not cache_lock.lock_file(third).exists()


def test_a_build_of_the_same_sources_waits_for_the_one_in_progress(
    official_built: Built, tmp_path: Path, spawn: Spawner
):
    """compute-emu build of a copy of a built project, while its build in the cache is
    locked: it says it waits, touches nothing, and takes the component once let go."""
    project = official_built.copy_to(tmp_path)
    (project / "bin" / "main.wasm").unlink()
    entry = cache_entry(official_built.wasm)
    with locked_by_another(cache_lock.lock_file(entry)):
        child = spawn(python_module("compute_emu", "build", "-C", str(project)), env=wasm_env())
        child.wait_for(build.WAITING.strip(), timeout=120)
        assert child.proc.poll() is None
        assert not (project / "bin" / "main.wasm").exists()
    child.wait_for("the component is taken from the build cache", timeout=120)
    assert child.proc.wait(120) == 0, child.stderr
    assert file_digest(project / "bin" / "main.wasm") == file_digest(official_built.wasm)


def cache_entry(wasm: Path) -> Path:
    """The build in the tests' cache that made ``wasm``."""
    digest = file_digest(wasm)
    for record in (CACHE / "builds").glob("*/build.json"):
        if json.loads(record.read_text()).get("output") == digest:
            return record.parent
    raise AssertionError(f"no build of {wasm} in {CACHE / 'builds'}")
