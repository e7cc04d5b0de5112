"""In-process unit tests of the official-SDK support that needs no SDK: detection, the
interpreter check, log handler de-duplication, the stubs' error types."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from compute_emu.errors import UserError
from compute_emu.official import world
from compute_emu.official.detect import binds_http_incoming, check_interpreter, find_entry
from compute_emu.runtime.log_handlers import dedupe_handlers


def _file(tmp_path: Path, source: str, name: str = "app.py") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


@pytest.mark.parametrize(
    "source",
    [
        "class HttpIncoming:\n    pass\n",
        "HttpIncoming = WsgiHttpIncoming(app)\n",
        "HttpIncoming: object = make()\n",
        "from handlers import Incoming as HttpIncoming\n",
        "if running_under_compute:\n    HttpIncoming = WsgiHttpIncoming(app)\n",
        "try:\n    import x\nexcept ImportError:\n    pass\nelse:\n    HttpIncoming = x.H\n",
        "try:\n    HttpIncoming = a()\nexcept Exception:\n    HttpIncoming = b()\n",
    ],
)
def test_binds_http_incoming(tmp_path, source):
    assert binds_http_incoming(_file(tmp_path, source))


@pytest.mark.parametrize(
    "source",
    [
        "def main():\n    pass\n",
        "def f():\n    HttpIncoming = 1\n",
        "class A:\n    HttpIncoming = 1\n",
        "HttpIncoming.x = 1\n",
        "def broken(:\n",
    ],
)
def test_does_not_bind_http_incoming(tmp_path, source):
    assert not binds_http_incoming(_file(tmp_path, source))


def test_find_entry_precedence(tmp_path):
    project = tmp_path / "p"
    _file(project, "HttpIncoming = 1\n", "src/main.py")
    assert find_entry(project, None).path == project / "src" / "main.py"
    (project / "pyproject.toml").write_text('[tool.fastly-compute]\nentry = "pkg.app"\n')
    _file(project, "x = 1\n", "src/pkg/app.py")
    found = find_entry(project, None)
    assert found.path == project / "src" / "pkg" / "app.py"
    assert 'entry = "pkg.app"' in found.reason
    sdk_app = _file(project, "def main():\n    pass\n", "main.py")
    assert find_entry(project, sdk_app) is None  # --file / [scripts] entry of an sdk app
    assert find_entry(project, project / "src" / "main.py").path == project / "src" / "main.py"


def test_broken_pyproject_is_not_official(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.fastly-compute\n")
    assert find_entry(tmp_path, None) is None


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="compute-emu's own Python is 3.11")
def test_check_interpreter_names_the_version():
    with pytest.raises(UserError, match=r"needs Python 3\.12 or newer.*Python 3\.11"):
        check_interpreter(Path("."))


def test_equivalent_handlers_do_not_pile_up():
    logger = logging.getLogger("compute_emu.tests.official.dedupe")
    other = logging.StreamHandler(sys.stderr)
    try:
        handlers = [logging.FileHandler("/dev/null", delay=True) for _ in range(3)]
        for handler in [*handlers, other]:
            logger.addHandler(handler)
        assert dedupe_handlers() >= 2
        assert logger.handlers == [handlers[-1], other]  # the newest, and the different one
        assert dedupe_handlers() == 0
    finally:
        logger.handlers = []


def test_raises_reads_the_stub_docstring():
    doc = "Frees a body.\n\nRaises: `componentize_py_types.Err(wit_world.imports.types.Error)`"
    assert world._raises(doc) == "wit_world.imports.types.Error"
    assert world._raises("Returns the name.") is None


def test_official_env_without_python_3_12_fails_with_the_command(tmp_path):
    """scripts/official-env never skips silently: no Python 3.12+ is an error saying what to do."""
    import shutil
    import subprocess

    from tests.support.processes import ROOT

    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "official-env", tmp_path / "scripts" / "official-env")
    (tmp_path / "pyproject.toml").write_text("")
    missing = str(tmp_path / "no-such-python3.12")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OFFICIAL_PYTHON": missing}
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "official-env")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no Python 3.12 or newer found" in result.stderr
    assert "pyenv install 3.12" in result.stderr
    assert not (tmp_path / ".venv-official").exists()


def _package_imports(path: Path) -> tuple[set[str], set[str]]:
    """The ``official`` modules a file imports: (at the top level, inside functions)."""
    import ast

    top: set[str] = set()
    inner: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            (top if node in tree.body else inner).update(n.split(".")[0] for n in names)
    return top, inner


def test_the_registry_is_the_bottom_and_nothing_imports_late():
    """No import circle in official/: the registry and the stub reader import nothing of the
    package, the loader only those two, and no module imports another inside a function."""
    package = Path(world.__file__).parent
    assert _package_imports(package / "registry.py") == (set(), set())
    assert _package_imports(package / "stub_facts.py") == (set(), set())
    assert _package_imports(package / "world.py") == ({"registry", "stub_facts"}, set())
    for path in sorted(package.glob("*.py")):
        top, inner = _package_imports(path)
        assert not inner, f"{path.name} imports {sorted(inner)} inside a function"
        if path.stem not in ("serving", "interfaces", "loopback", "__init__"):
            assert "interfaces" not in top and "world" not in top, path.name
