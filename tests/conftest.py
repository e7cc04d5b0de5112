"""The suite's layers (tests/support/layers.py), and fixtures: real processes (compute-emu,
test backends), stopped by PID after each test."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import layers
from tests.support.processes import Child, python_module
from tests.support.relay_rig import Loopback
from tests.support.sdk_hosts import host_params, serve_argv, serve_env

LAYER = pytest.StashKey[str]()
SLOW_TIMEOUT = 600  # seconds, for a test marked slow
GUARD = layers.Guard()
sys.addaudithook(GUARD.audit)  # for good: audit hooks cannot be removed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its layer (unit, inprocess, e2e), and the soak/fuzz ones slow; the
    files that take longest first (xdist hands whole files out in this order)."""
    for item in items:
        function = getattr(item, "originalname", item.name)
        fixtures = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        sdk_host = callspec.params.get("sdk_host") if callspec else None
        layer = layers.layer_of(item.path.name, function, fixtures, sdk_host)
        item.stash[LAYER] = layer
        item.add_marker(layer)
        if layers.is_slow(item.path.name, function):
            item.add_marker("slow")
            # thousands of examples or rounds: minutes on a loaded machine, where the others'
            # two minutes (pyproject.toml) are only a guard against a hang
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))
    items[:] = layers.longest_files_first(
        items,
        lambda item: item.stash[LAYER],
        lambda item: item.get_closest_marker("slow") is not None,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    GUARD.enter(item.nodeid, item.stash.get(LAYER, layers.E2E))
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Report what the guard refused, even where the test (or one of its threads) caught the
    error it raised."""
    try:
        return (yield)
    finally:
        refused = GUARD.leave()
        if refused:
            raise layers.LayerViolation("\n".join(dict.fromkeys(refused)))


class Spawner:
    """Starts children for one test (or one module); the fixture stops them and checks
    nothing is left."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def __call__(self, args: list[str], **kwargs: object) -> Child:
        child = Child(args, **kwargs)  # type: ignore[arg-type]
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        """Stop every child by PID, newest first; fail if one did not stop or left any."""
        leaks: list[str] = []
        for child in reversed(self.children):
            try:
                child.stop()
            except AssertionError as exc:
                leaks.append(str(exc))
            # shown by pytest only when the test failed
            print(f"--- {' '.join(child.args)}\n{child.stdout}\n--- stderr\n{child.stderr}")
            left = child.kill_leftovers()
            if left:
                leaks.append(f"{child.args} left processes behind: {left}")
        assert not leaks, "\n".join(leaks)


@pytest.fixture
def anyio_backend() -> str:
    """The in-process tests run on asyncio, as compute-emu does."""
    return "asyncio"


@pytest.fixture
def net() -> Iterator[Loopback]:
    """A loopback listener for the relay tests (tests/support/relay_rig.py)."""
    loopback = Loopback()
    yield loopback
    loopback.listener.close()


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    spawner = Spawner()
    yield spawner
    spawner.stop_all()


@pytest.fixture(scope="module")
def spawn_module() -> Iterator[Spawner]:
    """``spawn`` for processes a module's tests share: started once, stopped (and checked for
    leftovers) after the module's last test."""
    spawner = Spawner()
    yield spawner
    spawner.stop_all()


@dataclass
class Backend:
    port: int
    child: Child

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def start_backend(spawn: Spawner) -> Callable[[], Backend]:
    def start() -> Backend:
        child = spawn(python_module("tests.support.backend"))
        port = int(child.wait_for(r"^PORT (\d+)").group(1))
        return Backend(port, child)

    return start


@pytest.fixture
def backend(start_backend: Callable[[], Backend]) -> Backend:
    return start_backend()


def start_origin(spawn: Spawner) -> int:
    """Start the GRIP origin of the Fanout tests (tests/support/grip_origin.py): its port."""
    child = spawn(python_module("tests.support.grip_origin"))
    return int(child.wait_for(r"^PORT (\d+)").group(1))


@pytest.fixture
def origin(spawn: Spawner) -> int:
    """The GRIP origin of the Fanout tests (tests/support/grip_origin.py): its port."""
    return start_origin(spawn)


@dataclass
class Served:
    url: str
    child: Child

    def stop(self) -> int:
        return self.child.stop()


def project_maker(root: Path) -> Callable[..., Path]:
    """``make_project`` writing its projects under ``root``."""

    def make(
        app: str,
        *,
        backends: dict[str, str | dict[str, object]] | None = None,
        extra: str = "",
        name: str = "proj",
    ) -> Path:
        project = root / name
        (project / "src").mkdir(parents=True, exist_ok=True)
        lines = ["manifest_version = 3", f'name = "{name}"', 'language = "python"', extra]
        for backend, spec in (backends or {}).items():
            lines.append(f"[local_server.backends.{backend}]")
            if isinstance(spec, str):
                spec = {"url": spec}
            for key, value in spec.items():
                rendered = (
                    str(value).lower()
                    if isinstance(value, bool)
                    else (value if isinstance(value, int) else f'"{value}"')
                )
                lines.append(f"{key} = {rendered}")
        (project / "fastly.toml").write_text("\n".join(lines) + "\n")
        (project / "src" / "main.py").write_text(textwrap.dedent(app))
        return project

    return make


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module with ``SDK_HOSTS = BOTH`` (tests/support/sdk_hosts.py) runs its tests on the
    native host and on the SDK's Wasm host."""
    hosts = getattr(metafunc.module, "SDK_HOSTS", None)
    if hosts and "sdk_host" in metafunc.fixturenames:
        metafunc.parametrize("sdk_host", host_params(hosts), indirect=True, scope="module")


@pytest.fixture(scope="module")
def sdk_host(request: pytest.FixtureRequest) -> str:
    """How the served app's SDK reaches the runtime: ``native``, or ``wit`` (its Wasm host)."""
    return str(getattr(request, "param", "native"))


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write a project: fastly.toml (with optional backends and extra TOML) and src/main.py."""
    return project_maker(tmp_path)


def server_starter(spawn: Spawner, sdk_host: str) -> Callable[..., Served]:
    """``serve`` starting its children with ``spawn``, for ``sdk_host``."""

    def start(project: Path, *args: str) -> Served:
        argv = serve_argv(sdk_host, "-C", str(project), "--addr", "127.0.0.1:0", *args)
        child = spawn(argv, env=serve_env(sdk_host))
        url = child.wait_for(r"Listening on (http://\S+)").group(1)
        return Served(url, child)

    return start


@pytest.fixture
def serve(spawn: Spawner, sdk_host: str) -> Callable[..., Served]:
    """Start `compute-emu serve` on a free port for a project and wait until it listens."""
    return server_starter(spawn, sdk_host)


def forward_fanout(make_project, serve, origin):  # type: ignore[no-untyped-def]
    from tests.fanout_support import FORWARD_APP, start_fanout

    project = make_project(
        FORWARD_APP,
        backends={
            "origin": f"http://127.0.0.1:{origin}/",
            "prefixed": f"http://127.0.0.1:{origin}/realtime",
        },
        extra="[local_server.pushpin]\nenable = true",
    )
    return start_fanout(serve, project)


@pytest.fixture
def fanout(make_project, serve, origin):  # type: ignore[no-untyped-def]
    """compute-emu with Pushpin, the GRIP origin as ``origin`` and as ``prefixed``
    (``/realtime`` prefix), serving tests.fanout_support.FORWARD_APP."""
    return forward_fanout(make_project, serve, origin)


@pytest.fixture(scope="module")
def module_fanout(  # type: ignore[no-untyped-def]
    spawn_module: Spawner, sdk_host: str, tmp_path_factory: pytest.TempPathFactory
):
    """``fanout`` for a module (once per SDK host where the module runs on both)."""
    root = tmp_path_factory.mktemp("shared-fanout")
    return forward_fanout(
        project_maker(root), server_starter(spawn_module, sdk_host), start_origin(spawn_module)
    )


@pytest.fixture
def shared_fanout(module_fanout):  # type: ignore[no-untyped-def]
    """``fanout``, started once for a module's tests that only use it (they must not stop or
    restart it, nor count its connections); each test reads only its own part of the log."""
    module_fanout.served.child.read_from_here()
    return module_fanout


@pytest.fixture(scope="session")
def official_built(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """tests/wasm_apps/official_main.py (over the fanout-forward-official starter), built once
    per run by `compute-emu build` (tests/wasm_support.py)."""
    from tests.wasm_support import build_once, official_app

    return build_once(official_app(tmp_path_factory.mktemp("wasm-official")))


@pytest.fixture(scope="session")
def sdk_built(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """tests/wasm_apps/sdk_main.py (over the fanout-forward starter), built once per run by
    `compute-emu build` (tests/wasm_support.py)."""
    from tests.wasm_support import build_once, require_wit_host, sdk_app

    require_wit_host()
    return build_once(sdk_app(tmp_path_factory.mktemp("wasm-sdk")))


@pytest.fixture(scope="session")
def fanout_built(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The fanout starter (its own GRIP origin for /test/*), unchanged, built once per run by
    `compute-emu build` (tests/wasm_support.py)."""
    from tests.wasm_support import build_once, require_wit_host, starter_app

    require_wit_host()
    return build_once(starter_app("fanout", tmp_path_factory.mktemp("wasm-fanout")))
