"""The pytest plugin of compute_emu.testing (registered through the ``pytest11`` entry point).

Fixtures:

- ``compute_emu``: an :class:`~compute_emu.testing.Emulator` for the test, started before it
  and stopped after it;
- ``compute_emu_module``: one emulator shared by the tests of a module;
- ``compute_emu_overrides``: ``{}``; override it to hand the ``compute_emu`` fixture
  overrides built from other fixtures (a ``mock_backend``, a ``tmp_path``);
- ``mock_backend``: a factory, ``mock_backend(handler) -> MockBackend``, stopped after the test.

The marker ``@pytest.mark.compute_emu(project="path", **overrides)`` picks the project (a
path relative to the test file's directory) and the Emulator overrides; on a module
(``pytestmark``) it applies to ``compute_emu_module`` too. Without ``project`` the nearest
fastly.toml at or above the test file's directory is used.

The request log is printed when an emulator stops, so pytest shows it for a failing test. An
exception raised by a mock backend's handler fails the test that was running (a test that
expects one takes it with ``pytest.raises(AssertionError): mock.check()``); if the test
failed anyway, the handler's exception is added to its failure as a note.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from . import Emulator, MockBackend
    from ._mock import Handler

MARKER = "compute_emu"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(project=None, **overrides): the project and Emulator overrides of the "
        "compute_emu and compute_emu_module fixtures (compute_emu.testing)",
    )


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """pytest puts its own ``sys.stdout`` back at the start of each test phase: route the
    app's output through compute-emu's tagger again (inside pytest's capture), so what
    ``main()`` prints is kept with its request while the test runs. After the test, an
    exception a mock backend's handler raised during it becomes its failure."""
    __tracebackhide__ = True  # the failure is the handler's, not this hook's
    emulator = sys.modules.get("compute_emu.testing._emulator")  # never imported: none runs
    if emulator is not None and emulator.running():
        from ..log import capture_app_output

        capture_app_output()
    try:
        result = yield
    except BaseException as failed:
        for error in _mock_errors():
            failed.add_note(_note(error))
        raise
    if errors := _mock_errors():
        from ._mock import handler_error

        failure = handler_error(errors[0])
        for error in errors[1:]:
            failure.add_note(_note(error))
        raise failure
    return result


def _mock_errors() -> list[BaseException]:
    mock = sys.modules.get("compute_emu.testing._mock")  # never imported: no mock was made
    return [] if mock is None else list(mock.take_errors())


def _note(error: BaseException) -> str:
    text = "".join(traceback.format_exception(error)).rstrip()
    return f"and the mock backend's handler raised {error!r}:\n{text}"


def _project_for(start: Path) -> Path:
    for directory in (start, *start.parents):
        if (directory / "fastly.toml").is_file():
            return directory
    raise pytest.UsageError(
        f"compute_emu: no fastly.toml at or above {start}; name the project with "
        '@pytest.mark.compute_emu(project="path/to/project")'
    )


def _settings(request: pytest.FixtureRequest) -> tuple[Path, dict[str, Any]]:
    """The project and the overrides the closest ``compute_emu`` marker gives."""
    node = request.node
    here = Path(str(node.path)).parent
    marker = node.get_closest_marker(MARKER)
    overrides: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    project = overrides.pop("project", None)
    if project is None and marker is not None and marker.args:
        project = marker.args[0]
    if project is None:
        return _project_for(here), overrides
    return (here / project).resolve(), overrides


def _run(emulator: Emulator) -> Iterator[Emulator]:
    try:
        with emulator:
            yield emulator
    finally:
        print(f"--- compute-emu log ({emulator.project_dir})\n{emulator.log.text}")
    for mock in emulator.mocks.values():
        mock.check()


@pytest.fixture
def compute_emu_overrides() -> dict[str, Any]:
    """Overrides for the ``compute_emu`` fixture, on top of the marker's (override this)."""
    return {}


@pytest.fixture
def compute_emu(
    request: pytest.FixtureRequest, compute_emu_overrides: dict[str, Any]
) -> Iterator[Emulator]:
    """An Emulator of the marker's project (see the module docstring), for one test."""
    from . import Emulator

    project, overrides = _settings(request)
    yield from _run(Emulator(project, **{**overrides, **compute_emu_overrides}))


@pytest.fixture(scope="module")
def compute_emu_module(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """An Emulator shared by the tests of a module (the module's marker picks the project)."""
    from . import Emulator

    project, overrides = _settings(request)
    yield from _run(Emulator(project, **overrides))


@pytest.fixture
def mock_backend() -> Iterator[Callable[[Handler], MockBackend]]:
    """``mock_backend(handler)``: a started :class:`~compute_emu.testing.MockBackend`."""
    from . import MockBackend

    started: list[MockBackend] = []

    def start(handler: Handler) -> MockBackend:
        mock = MockBackend(handler)
        started.append(mock)
        return mock

    yield start
    for mock in started:
        mock.close()
    for mock in started:
        mock.check()
