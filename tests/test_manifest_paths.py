"""Keys of fastly.toml that name a file or a command, given a value no system call takes (a NUL,
a control character, a path over the system's limits): `serve` stops with one line naming the
file, the key and its line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import OK_APP, assert_one_line_error, run_serve

#: (the TOML around a value, the key path the error names)
KEYS = [
    ("[scripts]\nentry = {}\n", "scripts.entry"),
    ("[scripts]\nenv_file = {}\n", "scripts.env_file"),
    ("[local_server.pushpin]\npushpin_path = {}\n", "local_server.pushpin.pushpin_path"),
    (
        '[local_server.kv_stores]\nstore = [{{ key = "k", file = {} }}]\n',
        "local_server.kv_stores.store[0].file",
    ),
    (
        '[local_server.config_stores.cfg]\nformat = "json"\nfile = {}\n',
        "local_server.config_stores.cfg.file",
    ),
    ("[local_server.acls]\nlist = {}\n", "local_server.acls.list"),
]
VALUES = {
    "NUL": "\0",
    "NUL inside": "src/main\0.py",
    "newline": "src/\nmain.py",
    "escape": "\x1b[2Jmain.py",
    "name over NAME_MAX": "n" * 300,
    "path over PATH_MAX": "/".join(["abc"] * 1500),
}


@pytest.mark.parametrize("value", VALUES.values(), ids=list(VALUES))
@pytest.mark.parametrize("template,key", KEYS, ids=[k for _, k in KEYS])
def test_a_path_no_system_call_takes_is_one_line_naming_file_key_and_line(
    tmp_path: Path, template: str, key: str, value: str
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text(OK_APP)
    manifest = "manifest_version = 3\n" + template.format(json.dumps(value))
    (tmp_path / "fastly.toml").write_text(manifest)
    line = 2 + template.splitlines().index(next(s for s in template.splitlines() if "{}" in s))
    first = assert_one_line_error(run_serve(tmp_path), key)
    assert f"{tmp_path}/fastly.toml:{line}" in first, first
    assert "\0" not in first and "\x1b" not in first
