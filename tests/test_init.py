"""`compute-emu init`: starters from folders, built-in names and git; the name; packaging."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from compute_emu import init as init_module
from compute_emu import starters as starters_module
from compute_emu.cli import main
from compute_emu.errors import UserError
from compute_emu.init import set_manifest_name, toml_basic_string
from compute_emu.starters import EXCLUDED_NAMES, builtin_starters, is_excluded
from tests.support.processes import ROOT

MANIFEST = """\
# a comment that must survive
manifest_version = 3
name = "starter"   # trailing comment
language = "python"

[local_server.backends.origin]
url = "http://127.0.0.1:3000/"
name = "not the service name"
"""


def make_starter(base: Path, manifest: str = MANIFEST, *, origin: bool = False) -> Path:
    starter = base / "starter"
    (starter / "src" / "__pycache__").mkdir(parents=True)
    (starter / "fastly.toml").write_text(manifest)
    (starter / "src" / "main.py").write_text("print('app')\n")
    (starter / "src" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (starter / "stray.pyc").write_bytes(b"\0")
    (starter / ".gitignore").write_text("pushpin-logs/\n")
    (starter / ".DS_Store").write_bytes(b"\0")
    for junk in (".git", ".venv", "venv", "node_modules", "bin", "pkg", "target", "pushpin-logs"):
        (starter / junk).mkdir()
        (starter / junk / "file").write_text("junk")
    if origin:
        (starter / "origin").mkdir()
        (starter / "origin" / "app.py").write_text("print('origin')\n")
    return starter


def run(*args: str, cwd: Path | None = None) -> Result:
    if cwd is None:
        return CliRunner().invoke(main, ["init", *args])
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, ["init", *args])
    finally:
        os.chdir(old)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def assert_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# -- fastly.toml's name ---------------------------------------------------------------------
NAMES = [
    "plain",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "new\nline",
    "nul\x00\x7f",
    "ünï ✓ 🚀",
    "",
]


@pytest.mark.parametrize("name", NAMES)
def test_toml_basic_string_round_trips(name):
    assert tomllib.loads(f"name = {toml_basic_string(name)}")["name"] == name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # every other byte kept, the table's own `name` untouched
        (MANIFEST, MANIFEST.replace('name = "starter"', 'name = "N"')),
        ("name = 'literal'\n", 'name = "N"\n'),
        ('  "name"   =   "x"  # note\n', '  "name"   =   "N"  # note\n'),
        ("'name'='x'\n", "'name'=\"N\"\n"),
        ('name = "esc \\" aped"\n', 'name = "N"\n'),
        ("name = 5\n", 'name = "N"\n'),
        (
            "manifest_version = 3\r\nname = 'a'\r\nx = 1",
            'manifest_version = 3\r\nname = "N"\r\nx = 1',
        ),
        # the first `name =` line is inside a multi-line string
        (
            'd = """\nname = "decoy"\n"""\nname = "real"\n',
            'd = """\nname = "decoy"\n"""\nname = "N"\n',
        ),
        # no name: after manifest_version, else after the leading comments
        (
            "# h\nx = 1\nmanifest_version = 3\n[s]\n",
            '# h\nx = 1\nmanifest_version = 3\nname = "N"\n[s]\n',
        ),
        ("manifest_version = 3", 'manifest_version = 3\nname = "N"\n'),
        (
            "# a\n\nx = 1\n[setup]\nname = 't'\n",
            "# a\n\nname = \"N\"\nx = 1\n[setup]\nname = 't'\n",
        ),
        ("# only a comment", '# only a comment\nname = "N"\n'),
        ("", 'name = "N"\n'),
    ],
)
def test_set_manifest_name(text, expected):
    assert set_manifest_name(text, "N") == expected


def test_manifest_problems_are_user_errors():
    with pytest.raises(UserError, match="not valid TOML"):
        set_manifest_name("name = ", "n")
    with pytest.raises(UserError, match="write it on one line"):
        set_manifest_name('name = """\nmulti"""\n', "n")


# -- init from a folder ------------------------------------------------------------------------
def test_init_copies_the_starter_without_junk(tmp_path):
    starter = make_starter(tmp_path)
    (starter / "src" / "run.sh").write_text("#!/bin/sh\n")
    (starter / "src" / "run.sh").chmod(0o755)
    (starter / "link").symlink_to("src/main.py")
    target = tmp_path / "out" / "my-app"
    result = run("--from", str(starter), "--directory", str(target))
    assert result.exit_code == 0, result.output
    assert files_under(target) == {
        ".gitignore", "fastly.toml", "src/main.py", "src/run.sh", "link",
    }  # fmt: skip
    assert os.access(target / "src" / "run.sh", os.X_OK)
    assert os.readlink(target / "link") == "src/main.py"
    assert tomllib.loads((target / "fastly.toml").read_text())["name"] == "my-app"
    assert (target / "fastly.toml").read_text() == MANIFEST.replace('"starter"', '"my-app"')
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask  # a normal folder, not mkdtemp's
    assert sorted(p.name for p in target.parent.iterdir()) == ["my-app"]  # no staging left
    assert f'Created "my-app" in {target}' in result.stdout
    assert "compute-emu serve" in result.stdout
    assert 'compute-emu publish test "hello"' in result.stdout
    assert "http://127.0.0.1:7676/" in result.stdout
    assert "origin/app.py" not in result.stdout


def test_name_option_and_the_current_directory_default(tmp_path):
    starter = make_starter(tmp_path, origin=True)
    here = tmp_path / "here"
    here.mkdir()
    result = run("--from", str(starter), "--name", "Custom Name", cwd=here)
    assert result.exit_code == 0, result.output
    assert tomllib.loads((here / "fastly.toml").read_text())["name"] == "Custom Name"
    assert "cd " not in result.stdout
    assert "python origin/app.py" in result.stdout


def test_an_empty_name_is_refused(tmp_path):
    starter = make_starter(tmp_path)
    assert_error(run("--from", str(starter), "-p", str(tmp_path / "o"), "-n", " "), "--name")
    assert not (tmp_path / "o").exists()


def test_a_folder_holding_only_git_counts_as_empty(tmp_path):
    starter = make_starter(tmp_path)
    target = tmp_path / "repo"
    (target / ".git").mkdir(parents=True)
    result = run("--from", str(starter), "-p", str(target))
    assert result.exit_code == 0, result.output
    assert (target / "fastly.toml").is_file() and (target / ".git").is_dir()


def test_non_empty_target_is_refused_then_merged_with_force(tmp_path):
    starter = make_starter(tmp_path)
    target = tmp_path / "busy"
    (target / "src").mkdir(parents=True)
    (target / "src" / "main.py").write_text("mine\n")
    (target / "notes.txt").write_text("keep me\n")
    assert_error(run("--from", str(starter), "-p", str(target)), "not empty", "--force")
    assert files_under(target) == {"src/main.py", "notes.txt"}
    result = run("--from", str(starter), "-p", str(target), "--force")
    assert result.exit_code == 0, result.output
    assert (target / "src" / "main.py").read_text() == "print('app')\n"
    assert (target / "notes.txt").read_text() == "keep me\n"
    assert tomllib.loads((target / "fastly.toml").read_text())["name"] == "busy"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "starter"]


def test_a_file_folder_clash_writes_nothing(tmp_path):
    starter = make_starter(tmp_path)
    target = tmp_path / "clash"
    target.mkdir()
    (target / "src").write_text("a file where the starter has a folder")
    assert_error(run("--from", str(starter), "-p", str(target), "--force"), "clash")
    assert files_under(target) == {"src"}


def test_target_that_is_a_file(tmp_path):
    starter = make_starter(tmp_path)
    (tmp_path / "file").write_text("")
    assert_error(run("--from", str(starter), "-p", str(tmp_path / "file")), "not a directory")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda base: base / "missing", "no such folder"),
        (lambda base: (base / "f.txt").write_text("x") and base / "f.txt", "is not a folder"),
        (lambda base: (base / "empty").mkdir() or base / "empty", "has no fastly.toml"),
    ],
)
def test_bad_starter_folders(tmp_path, make, fragment):
    source = make(tmp_path)
    assert_error(run("--from", str(source), "-p", str(tmp_path / "out")), fragment)
    assert not (tmp_path / "out").exists()


def test_unknown_builtin_name_suggests_one(tmp_path, monkeypatch):
    fake = {"fanout": tmp_path / "a", "fanout-forward": tmp_path / "b"}
    monkeypatch.setattr(starters_module, "builtin_starters", lambda: fake)
    line = assert_error(run("--from", "fanot", "-p", str(tmp_path / "out")), "unknown starter")
    assert "did you mean 'fanout'?" in line and "fanout, fanout-forward" in line
    line = assert_error(run("--from", "zzz", "-p", str(tmp_path / "out")), "fanout-forward")
    assert "did you mean" not in line


def test_unreadable_starter_file_leaves_nothing_behind(tmp_path, monkeypatch):
    starter = make_starter(tmp_path)
    real_copy = init_module._copy_file

    def copy(src: Path, dst: Path) -> None:
        if src.name == "main.py":
            raise PermissionError(13, "Permission denied", str(src))
        real_copy(src, dst)

    monkeypatch.setattr(init_module, "_copy_file", copy)
    target = tmp_path / "new" / "deeper" / "app"
    line = assert_error(run("--from", str(starter), "-p", str(target)), "cannot read starter file")
    assert "main.py: Permission denied" in line
    assert not (tmp_path / "new").exists()  # the parents it made are gone too


def test_invalid_starter_manifest(tmp_path):
    starter = make_starter(tmp_path, manifest="name = = 1\n")
    assert_error(run("--from", str(starter), "-p", str(tmp_path / "o")), "not valid TOML")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["starter"]


def test_target_inside_the_starter(tmp_path):
    starter = make_starter(tmp_path)
    assert_error(run("--from", str(starter), "-p", str(starter / "sub")), "inside the starter")


# -- git ----------------------------------------------------------------------------------------
def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_init_from_a_git_url(tmp_path):
    starter = make_starter(tmp_path, origin=True)
    shutil.rmtree(starter / ".git")
    git("init", "-q", cwd=starter)
    git("add", "-A", "-f", cwd=starter)
    git("commit", "-q", "-m", "starter", cwd=starter)
    target = tmp_path / "cloned"
    result = run("--from", f"file://{starter}", "-p", str(target))
    assert result.exit_code == 0, result.output
    assert "src/main.py" in files_under(target) and "origin/app.py" in files_under(target)
    assert not (target / ".git").exists() and not (target / "node_modules").exists()
    assert tomllib.loads((target / "fastly.toml").read_text())["name"] == "cloned"
    assert f"git repository file://{starter}" in result.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_failing_clone_quotes_git(tmp_path):
    line = assert_error(
        run("--from", f"file://{tmp_path}/nothing.git", "-p", str(tmp_path / "o")),
        "git clone",
        "failed: fatal:",
    )
    assert "nothing.git' does not appear to be a git repository" in line
    assert not (tmp_path / "o").exists()


# -- built-in starters and packaging -----------------------------------------------------------
@pytest.mark.parametrize("name", ["fanout-forward", "fanout"])
def test_builtin_starters(tmp_path, name):
    if name not in builtin_starters():
        pytest.skip(f"starters/{name} is not there yet")
    result = run("--from", name, "-p", str(tmp_path / "proj"))
    assert result.exit_code == 0, result.output
    assert tomllib.loads((tmp_path / "proj" / "fastly.toml").read_text())["name"] == "proj"
    assert ("python origin/app.py" in result.stdout) == (name == "fanout-forward")


def test_packaged_starters_are_used_outside_a_checkout(tmp_path, monkeypatch):
    make_starter(tmp_path / "packaged")
    monkeypatch.setattr(starters_module, "CHECKOUT_STARTERS", tmp_path / "nowhere")
    monkeypatch.setattr(starters_module, "PACKAGED_STARTERS", tmp_path / "packaged")
    assert builtin_starters() == {"starter": tmp_path / "packaged" / "starter"}


def test_pyproject_lists_every_package_and_excludes_what_init_skips():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "compute_emu").rglob("__init__.py")
    }
    assert set(config["packages"]) == on_disk | {"compute_emu._starters"}
    assert config["package-dir"] == {"compute_emu._starters": "starters"}
    excluded = config["exclude-package-data"]["compute_emu._starters"]
    for name in EXCLUDED_NAMES - {".DS_Store"}:
        assert f"*/{name}/*" in excluded
    assert "*.pyc" in excluded and "*.DS_Store" in excluded


def _copy_source(dest: Path) -> None:
    ignore = shutil.ignore_patterns(*EXCLUDED_NAMES, "*.pyc", "*.egg-info", "build", "dist")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest / name)
    for name in ("compute_emu", "starters"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore, symlinks=True)


@pytest.mark.packaging
@pytest.mark.timeout(180)
def test_wheel_installed_outside_the_checkout_ships_the_builtin_starters(tmp_path):
    """Build a wheel (as `pip wheel` would from the checkout), install it with only click into
    a fresh venv, and run `compute-emu init --from fanout-forward` from outside the checkout."""
    if "fanout-forward" not in starters_module._starters_in(starters_module.CHECKOUT_STARTERS):
        pytest.skip("starters/fanout-forward is not there yet")
    source, wheels, venv = tmp_path / "src", tmp_path / "wheels", tmp_path / "venv"
    source.mkdir()
    _copy_source(source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", wheels, source], check=True, timeout=150)
    (wheel,) = wheels.glob("compute_emu-*.whl")
    shipped = {
        n.removeprefix("compute_emu/_starters/")
        for n in zipfile.ZipFile(wheel).namelist()
        if n.startswith("compute_emu/_starters/")
    }
    expected = {
        str(p.relative_to(source / "starters"))
        for p in (source / "starters").rglob("*")
        if p.is_file() and not any(is_excluded(part) for part in p.parts)
    }
    assert shipped == expected
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", python, "install", "--no-deps", wheel, "click"], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [venv / "bin" / "compute-emu", "init", "--from", "fanout-forward", "--directory", "x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert tomllib.loads((tmp_path / "x" / "fastly.toml").read_text())["name"] == "x"
    assert (tmp_path / "x" / "origin" / "app.py").is_file()
    where = subprocess.run(
        [python, "-c", "import compute_emu.starters as s; print(s.builtin_starters()['fanout'])"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where
