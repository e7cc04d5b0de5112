"""An app entry file that cannot be loaded: one line naming the file, whatever is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute_emu.runtime.app import App, AppLoadError

CERT_WITH_LATIN1 = b"-----BEGIN CERTIFICATE-----\n\xe9\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("source", "says"),
    [
        (b"def main(:\n", ":1:10: syntax error in app: "),
        (b"x = '\xe9'\n", ":1:8: syntax error in app: (unicode error)"),
        (b"x = 1\x00\n", "source code string cannot contain null bytes"),  # ValueError before 3.12
        # CPython's tokenizer raises UnicodeDecodeError itself here, not a SyntaxError
        (CERT_WITH_LATIN1, ": app entry file is not Python source: 'utf-8' codec can't decode"),
    ],
)
def test_a_file_that_does_not_compile_is_one_line_naming_it(
    tmp_path: Path, source: bytes, says: str
) -> None:
    entry = tmp_path / "main.py"
    entry.write_bytes(source)
    with pytest.raises(AppLoadError) as caught:
        App(entry)
    message = str(caught.value)
    assert message.startswith(str(entry)) and says in message, message
    assert "\n" not in message


def test_a_missing_file_says_how_to_name_one(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError, match=r"main\.py: app entry file not found \(set \[scripts\]"):
        App(tmp_path / "main.py")
