"""The pieces of compute_emu/wasm/ that need no build: names, packages, staging, the build
environment's errors, trap messages, the thread-safety fix."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from compute_emu.errors import UserError
from compute_emu.wasm import environment, stage
from compute_emu.wasm.imports import ImportName
from compute_emu.wasm.instance import backtrace_names, trap_message
from compute_emu.wasm.package import package_name, write_package

NAME_CASES = [
    # (function, module, key, kind)
    ("[method]request.get-header-names", "http_req", "Request.get_header_names", "method"),
    ("[static]request.new", "http_req", "Request.new", "static"),
    ("send-async", "http_req", "send_async", "function"),
    (
        "[constructor]dynamic-backend-options",
        "http_req",
        "DynamicBackendOptions.__init__",
        "constructor",
    ),
]


@pytest.mark.parametrize(("function", "module", "key", "kind"), NAME_CASES)
def test_import_names(function: str, module: str, key: str, kind: str):
    name = ImportName("fastly:compute/http-req@0.1.0", function)
    assert (name.module, name.key, name.kind) == (module, key, kind)
    assert str(name) == f"fastly:compute/http-req@0.1.0#{function}"


def test_the_package_is_laid_out_as_the_fastly_cli_writes_it(tmp_path: Path):
    (tmp_path / "fastly.toml").write_text('name = "My app"\n')
    wasm = tmp_path / "bin" / "main.wasm"
    wasm.parent.mkdir()
    wasm.write_bytes(b"\0asm component")
    package = write_package(tmp_path, "My app", wasm)
    assert package == tmp_path / "pkg" / "My-app.tar.gz"
    with tarfile.open(package) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert sorted(members) == [
            "My-app",
            "My-app/bin",
            "My-app/bin/main.wasm",
            "My-app/fastly.toml",
        ]
        assert members["My-app"].isdir() and members["My-app/bin"].isdir()
        assert archive.extractfile("My-app/bin/main.wasm").read() == b"\0asm component"  # type: ignore[union-attr]
        assert archive.extractfile("My-app/fastly.toml").read() == b'name = "My app"\n'  # type: ignore[union-attr]
    assert not list((tmp_path / "pkg").glob(".*"))  # no partial file left
    assert package_name("a b  c") == "a-b--c"


def test_staging_holds_the_app_the_sdk_and_the_export_and_nothing_else(tmp_path: Path):
    src = tmp_path / "src"
    (src / "helpers").mkdir(parents=True)
    (src / "main.py").write_text("def main(): pass\n")
    (src / "helpers" / "__init__.py").write_text("")
    (src / "notes.txt").write_text("not Python")
    (src / ".venv" / "lib").mkdir(parents=True)
    (src / ".venv" / "lib" / "x.py").write_text("")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "main.cpython-311.pyc").write_text("")
    files = stage.staged(stage.Source(src, "main", src / "main.py", official=False))
    app = {name for name in files if not name.startswith("compute_emu/")}
    assert app == {"main.py", "helpers/__init__.py", "compute_emu_export.py"}
    assert "compute_emu/sdk/__init__.py" in files and "compute_emu/__init__.py" in files
    others = {
        n for n in files if n.startswith("compute_emu/") and not n.startswith("compute_emu/sdk/")
    }
    assert others == {"compute_emu/__init__.py"}  # no anyio, click, runtime, ...
    assert b"import" not in files["compute_emu/__init__.py"]
    export = files["compute_emu_export.py"].decode()
    assert "from main import main" in export
    assert "serve_request(main, request, body)" in export
    official = stage.staged(stage.Source(src, "main", src / "main.py", official=True))
    assert set(official) == {"main.py", "helpers/__init__.py"}
    assert stage.digest(files) != stage.digest(official)
    assert stage.digest(files, "a") != stage.digest(files, "b")


def test_without_a_build_environment_the_error_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv(environment.ENV_VAR, raising=False)
    monkeypatch.setenv("COMPUTE_EMU_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(environment.sys, "prefix", str(tmp_path / "no-env"))
    with pytest.raises(UserError) as raised:
        environment.find(tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.endswith("make it with: compute-emu build --setup-env")
    assert str(tmp_path / "cache" / "build-env") in message
    monkeypatch.setenv(environment.ENV_VAR, str(tmp_path / "elsewhere"))
    with pytest.raises(UserError, match=r"compute-emu build --setup-env --build-env .*elsewhere"):
        environment.find(tmp_path)


TRAP = """error while executing at wasm backtrace:
    0: 0x12591e7 - <unknown>!<wasm function 169>
    1: 0x1234458 - <unknown>!adapter [static]response.new
    2: 0xd00708 - libpython3.14.so!cfunction_vectorcall_FASTCALL_KEYWORDS

Caused by:
    wasm trap: wasm `unreachable` instruction executed
"""


def test_trap_messages_name_the_backtraces_functions():
    assert backtrace_names(TRAP) == [
        "<wasm function 169>",
        "adapter [static]response.new",
        "cfunction_vectorcall_FASTCALL_KEYWORDS",
    ]
    message = trap_message(TRAP, "Traceback ...\nValueError: boom\n")
    assert message.splitlines() == [
        "the component trapped: wasm trap: wasm `unreachable` instruction executed",
        "wasm backtrace (innermost first): <wasm function 169> < adapter [static]response.new "
        "< cfunction_vectorcall_FASTCALL_KEYWORDS",
        "the component's stderr ended with:",
        "Traceback ...",
        "ValueError: boom",
    ]


def test_a_build_environment_is_known_by_its_packages_not_its_place(tmp_path: Path):
    def env(where: str, *dists: str) -> environment.BuildEnv:
        site = tmp_path / where / "lib" / "python3.12" / "site-packages"
        site.mkdir(parents=True)
        (site / "some_module.py").write_text("")
        for dist in dists:
            (site / dist).mkdir()
        return environment.BuildEnv(tmp_path / where, "test")

    sdk, flask = "fastly_compute-0.1.3.dist-info", "flask-3.1.3.dist-info"
    one, other = env("clone-a/.venv", sdk, flask), env("clone-b/.venv", flask, sdk)
    assert one.packages() == other.packages() == f"python3.12 {sdk} {flask}"
    assert env("newer", sdk, "flask-3.2.0.dist-info").packages() != one.packages()
    assert env("more", sdk, flask, "attrs-25.1.0.dist-info").packages() != one.packages()
    assert environment.BuildEnv(tmp_path / "nothing", "test").packages() == ""
