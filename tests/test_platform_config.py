"""Config stores and secret stores: the reference's fastly.toml examples, the SDK, redaction."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from compute_emu.sdk import (
    ConfigStore,
    ConfigStoreError,
    ConfigStoreLookupError,
    ConfigStoreOpenError,
    Dictionary,
    Secret,
    SecretStore,
    SecretStoreLookupError,
    SecretStoreOpenError,
)
from tests.platform_support import build, serving

# §8.3, verbatim
CONFIG_STORES = """\
[local_server.config_stores.animals]
format = "inline-toml"
[local_server.config_stores.animals.contents]
dog = "woof"

[local_server.config_stores.strings]
format = "json"
file = "strings.json"          # {"cat":"meow"}
"""

# §8.5, verbatim
SECRET_STORES = """\
[local_server]
secret_stores.store_one = [
  { key = "first", data = "This is some data" },
  { key = "second", file = "secret.txt" },
  { key = "third", env = "MY_SECRET_ENV" },
]
secret_stores.store_two = { file = "secrets.json", format = "json" }
"""
SECRET_FILES = {
    "secret.txt": "file-secret-value",
    "secrets.json": {"alpha": "json-secret-value"},
}


def test_config_stores_inline_and_json(tmp_path: Path) -> None:
    platform = build(tmp_path, CONFIG_STORES, {"strings.json": {"cat": "meow"}})
    with serving(platform):
        animals = ConfigStore.open("animals")
        assert animals.get("dog") == "woof"
        assert animals.get("cat") is None
        assert animals.contains("dog") and not animals.contains("cat")
        strings = ConfigStore.try_open("strings")
        assert strings.get("cat") == "meow"
        assert repr(strings) == "ConfigStore('strings')"


def test_json_config_store_is_reread_on_each_open(tmp_path: Path) -> None:
    platform = build(tmp_path, CONFIG_STORES, {"strings.json": {"cat": "meow"}})
    with serving(platform):
        before = ConfigStore.open("strings")
        (tmp_path / "strings.json").write_text('{"cat": "purr"}')
        assert before.get("cat") == "meow"  # an open store keeps what it read
        assert ConfigStore.open("strings").get("cat") == "purr"
        (tmp_path / "strings.json").write_text("[1, 2]")
        with pytest.raises(ConfigStoreOpenError.Unexpected) as info:
            ConfigStore.open("strings")
    assert "strings.json" in str(info.value) and "JSON object" in str(info.value)
    assert "local_server.config_stores.strings.file" in str(info.value)


def test_dictionaries_is_the_older_name(tmp_path: Path) -> None:
    toml = CONFIG_STORES.replace("config_stores", "dictionaries")
    platform = build(tmp_path, toml, {"strings.json": {"cat": "meow"}})
    assert set(platform.config_stores) == {"animals", "strings"}
    with serving(platform), pytest.warns(DeprecationWarning, match="ConfigStore"):
        assert Dictionary.open("animals").get("dog") == "woof"


def test_unknown_config_store_names_the_known_ones(tmp_path: Path) -> None:
    platform = build(tmp_path, CONFIG_STORES, {"strings.json": {"cat": "meow"}})
    with serving(platform):
        for opener in (ConfigStore.open, ConfigStore.try_open):
            with pytest.raises(ConfigStoreOpenError.ConfigStoreDoesNotExist) as info:
                opener("plants")
            assert '"plants"' in str(info.value) and "animals, strings" in str(info.value)
        with pytest.raises(ConfigStoreOpenError.NameEmpty):
            ConfigStore.open("")
        store = ConfigStore.open("animals")
        with pytest.raises(ConfigStoreLookupError.KeyTooLong):
            store.get("k" * 257)
        with pytest.raises(ConfigStoreError):
            store.try_get("")
        assert store.get("k" * 256) is None


def test_store_calls_outside_a_request_fail_clearly() -> None:
    with pytest.raises(RuntimeError, match=r"ConfigStore\.open\(\) needs a running request"):
        ConfigStore.open("animals")
    with pytest.raises(RuntimeError, match=r"SecretStore\.open\(\) needs a running request"):
        SecretStore.open("store_one")


def test_secret_stores_every_source(tmp_path: Path) -> None:
    platform = build(
        tmp_path, SECRET_STORES, SECRET_FILES, environ={"MY_SECRET_ENV": "env-secret-value"}
    )
    assert platform.warnings == []
    with serving(platform):
        one = SecretStore.open("store_one")
        assert one.get("first").plaintext() == b"This is some data"  # type: ignore[union-attr]
        assert one.get("second").plaintext() == b"file-secret-value"  # type: ignore[union-attr]
        assert one.get("third").plaintext() == b"env-secret-value"  # type: ignore[union-attr]
        assert one.get("fourth") is None
        assert one.contains("first") and not one.contains("fourth")
        two = SecretStore.open("store_two")
        assert two.try_get("alpha").plaintext() == b"json-secret-value"  # type: ignore[union-attr]


def test_missing_env_secret_is_empty_with_a_warning(tmp_path: Path) -> None:
    platform = build(tmp_path, SECRET_STORES, SECRET_FILES, environ={})
    [warning] = platform.warnings
    assert "MY_SECRET_ENV is not set" in warning
    assert "local_server.secret_stores.store_one[2].env" in warning
    assert warning.startswith(f"{tmp_path / 'fastly.toml'}:6:3:")  # the third entry's line
    with serving(platform):
        assert SecretStore.open("store_one").get("third").plaintext() == b""  # type: ignore[union-attr]


def test_secret_values_never_shown(tmp_path: Path) -> None:
    platform = build(
        tmp_path, SECRET_STORES, SECRET_FILES, environ={"MY_SECRET_ENV": "env-secret-value"}
    )
    values = ("This is some data", "file-secret-value", "env-secret-value", "json-secret-value")
    with serving(platform):
        store = SecretStore.open("store_one")
        secret = store.get("first")
        assert secret is not None
        shown = [
            repr(secret),
            str(secret),
            f"{secret}",
            repr(store),
            repr(platform),
            repr(platform.secret_stores["store_one"]),
            repr(platform.secret_stores["store_two"]),
            repr(Secret.from_bytes(b"env-secret-value")),
        ]
        for error in (SecretStoreOpenError, SecretStoreLookupError):
            with pytest.raises(error) as info:
                (SecretStore.open("no.such") if error is SecretStoreOpenError else store.get("a b"))
            shown.append(str(info.value))
    assert repr(secret) == "Secret('first', <redacted>)"
    for text in shown:
        assert not any(value in text for value in values), text
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert Secret.from_bytes(b"xyz").plaintext() == b"xyz"


def test_secret_store_name_rules(tmp_path: Path) -> None:
    platform = build(tmp_path, SECRET_STORES, SECRET_FILES)
    with serving(platform):
        with pytest.raises(SecretStoreOpenError.InvalidSecretStoreName):
            SecretStore.open("bad name")
        with pytest.raises(SecretStoreOpenError.SecretStoreDoesNotExist) as info:
            SecretStore.open("store_three")
        assert "store_one, store_two" in str(info.value)
        store = SecretStore.open("store_one")
        with pytest.raises(SecretStoreLookupError.InvalidSecretName):
            store.get("x" * 256)
        assert store.get("x" * 255) is None
