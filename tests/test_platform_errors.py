"""Every malformed ``[local_server]`` store section: one line naming file, key path and line.

Each case's TOML starts on line 2 (line 1 is ``manifest_version = 3``).
"""

# ruff: noqa: E501 - one case per table row reads best unwrapped

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.platform_support import build_error

CS = "[local_server.config_stores.a]\n"  # line 2
KV = "[local_server]\nkv_stores.s = [\n"  # the array starts on line 3, its items on 4
SS = "[local_server]\nsecret_stores.s = [\n"
GEO = "[local_server.geolocation]\n"
DD = "[local_server.device_detection]\n"

# (id, toml, files, key path, line, text in the message; "{dir}" is the project directory)
CASES: list[tuple[str, str, dict[str, Any], str, int | None, str]] = [
    # config stores
    ("cs-format", CS + 'format = "yaml"\ncontents = {}\n', {},
     "local_server.config_stores.a.format", 3, 'unknown format "yaml"; expected "inline-toml" or "json"'),
    ("cs-format-empty", CS + 'format = ""\n', {},
     "local_server.config_stores.a.format", 3, 'unknown format ""'),
    ("cs-format-type", CS + "format = 1\n", {},
     "local_server.config_stores.a.format", 3, "expected a string, got an integer"),
    ("cs-no-format", CS + 'contents = { x = "y" }\n', {},
     "local_server.config_stores.a", 2, 'missing required key "format"'),
    ("cs-not-table", '[local_server]\nconfig_stores.a = "x"\n', {},
     "local_server.config_stores.a", 3, "expected a table, got a string"),
    ("cs-no-contents", CS + 'format = "inline-toml"\n', {},
     "local_server.config_stores.a", 2, 'missing required key "contents"'),
    ("cs-inline-value", CS + 'format = "inline-toml"\ncontents = { dog = 1 }\n', {},
     "local_server.config_stores.a.contents.dog", 4, "expected a string, got an integer"),
    ("cs-inline-extra", CS + 'format = "inline-toml"\nfile = "x.json"\ncontents = {}\n', {},
     "local_server.config_stores.a.file", 4, 'unknown key "file" for format "inline-toml"'),
    ("cs-key-long", CS + 'format = "inline-toml"\n[local_server.config_stores.a.contents]\n'
     + "k" * 257 + ' = "v"\n', {},
     "local_server.config_stores.a.contents." + "k" * 257, 5, "the limit is 256"),
    ("cs-value-long", CS + 'format = "inline-toml"\ncontents = { k = "' + "v" * 8001 + '" }\n', {},
     "local_server.config_stores.a.contents.k", 4, "8001 characters long; the limit is 8000"),
    ("cs-missing-file", CS + 'format = "json"\nfile = "nope.json"\n', {},
     "local_server.config_stores.a.file", 4, 'cannot read "{dir}/nope.json"'),
    ("cs-no-file", CS + 'format = "json"\n', {},
     "local_server.config_stores.a", 2, 'missing required key "file"'),
    ("cs-empty-file", CS + 'format = "json"\nfile = ""\n', {},
     "local_server.config_stores.a.file", 4, "file name must not be empty"),
    ("cs-json-array", CS + 'format = "json"\nfile = "c.json"\n', {"c.json": [1]},
     "local_server.config_stores.a.file", 4, '"{dir}/c.json" must hold a JSON object'),
    ("cs-json-syntax", CS + 'format = "json"\nfile = "c.json"\n', {"c.json": "{nope"},
     "local_server.config_stores.a.file", 4, '"{dir}/c.json" is not valid JSON'),
    ("cs-json-value", CS + 'format = "json"\nfile = "c.json"\n', {"c.json": {"a": 1}},
     "local_server.config_stores.a.file", 4, 'value of "a" must be a string, not a number'),
    ("cs-json-long", CS + 'format = "json"\nfile = "c.json"\n', {"c.json": {"a": "v" * 8001}},
     "local_server.config_stores.a.file", 4, "{dir}/c.json"),
    ("cs-both-names", '[local_server.config_stores.a]\nformat = "inline-toml"\ncontents = {}\n'
     '[local_server.dictionaries.a]\nformat = "inline-toml"\ncontents = {}\n', {},
     "local_server.dictionaries.a", 5, "also defined in local_server.config_stores"),
    # KV stores
    ("kv-data-and-file", KV + '  { key = "a", data = "x" },\n  { key = "b", data = "y", file = "f" },\n]\n',
     {}, "local_server.kv_stores.s[1].file", 5, 'give exactly one of "data" or "file", not both'),
    ("kv-neither", KV + '  { key = "a" },\n]\n', {},
     "local_server.kv_stores.s[0]", 4, 'entry "a" needs "data"'),
    ("kv-no-key", KV + '  { data = "x" },\n]\n', {},
     "local_server.kv_stores.s[0]", 4, 'missing required key "key"'),
    ("kv-key-type", KV + "  { key = 1, data = \"x\" },\n]\n", {},
     "local_server.kv_stores.s[0].key", 4, "expected a string, got an integer"),
    ("kv-data-type", KV + '  { key = "a", data = 1 },\n]\n', {},
     "local_server.kv_stores.s[0].data", 4, "expected a string, got an integer"),
    ("kv-metadata-type", KV + '  { key = "a", data = "x", metadata = [] },\n]\n', {},
     "local_server.kv_stores.s[0].metadata", 4, "expected a string, got an array"),
    ("kv-missing-file", KV + '  { key = "a", file = "data/none.txt" },\n]\n', {},
     "local_server.kv_stores.s[0].file", 4, 'cannot read "{dir}/data/none.txt"'),
    ("kv-bad-key", KV + '  { key = "..", data = "x" },\n]\n', {},
     "local_server.kv_stores.s[0].key", 4, "invalid key '..'"),
    ("kv-acme-key", KV + '  { key = ".well-known/acme-challenge/x", data = "x" },\n]\n', {},
     "local_server.kv_stores.s[0].key", 4, "acme-challenge"),
    ("kv-item-type", KV + '  "a",\n]\n', {},
     "local_server.kv_stores.s[0]", 4, "expected a table, got a string"),
    ("kv-string", '[local_server]\nkv_stores.s = "kv.json"\n', {},
     "local_server.kv_stores.s", 3, "expected an array of"),
    ("kv-only-file", '[local_server]\nkv_stores.s = { file = "kv.json" }\n', {},
     "local_server.kv_stores.s", 3, 'needs both "file" and "format"'),
    ("kv-format", '[local_server]\nkv_stores.s = { file = "kv.json", format = "toml" }\n', {},
     "local_server.kv_stores.s.format", 3, 'unknown format "toml"; expected "json"'),
    ("kv-json-missing", '[local_server]\nkv_stores.s = { file = "kv.json", format = "json" }\n', {},
     "local_server.kv_stores.s.file", 3, 'cannot read "{dir}/kv.json"'),
    ("kv-json-array", '[local_server]\nkv_stores.s = { file = "kv.json", format = "json" }\n',
     {"kv.json": ["a"]}, "local_server.kv_stores.s.file", 3, "must hold a JSON object"),
    ("kv-json-value", '[local_server]\nkv_stores.s = { file = "kv.json", format = "json" }\n',
     {"kv.json": {"a": 1}}, "local_server.kv_stores.s.file", 3, '"a": expected a string or an object'),
    ("kv-json-both", '[local_server]\nkv_stores.s = { file = "kv.json", format = "json" }\n',
     {"kv.json": {"a": {"data": "x", "file": "y"}}}, "local_server.kv_stores.s.file", 3,
     'give exactly one of "data" or "file", not both'),
    ("kv-json-metadata", '[local_server]\nkv_stores.s = { file = "kv.json", format = "json" }\n',
     {"kv.json": {"a": {"data": "x", "metadata": 5}}}, "local_server.kv_stores.s.file", 3,
     '"a".metadata: expected a string, not a number'),
    ("kv-json-file", '[local_server]\nkv_stores.s = { file = "kv.json", format = "json" }\n',
     {"kv.json": {"a": {"file": "gone.txt"}}}, "local_server.kv_stores.s.file", 3,
     'cannot read "{dir}/gone.txt"'),
    ("kv-alias", '[local_server]\nobject_stores.s = [{ key = "a" }]\n', {},
     "local_server.object_stores.s[0]", 3, 'needs "data"'),
    # secret stores
    ("ss-store-name", '[local_server]\nsecret_stores."bad name" = []\n', {},
     'local_server.secret_stores."bad name"', 3, "invalid secret store name"),
    ("ss-secret-name", SS + '  { key = "a/b", data = "x" },\n]\n', {},
     "local_server.secret_stores.s[0].key", 4, "may only contain letters, digits"),
    ("ss-two-sources", SS + '  { key = "a", data = "x", env = "Y" },\n]\n', {},
     "local_server.secret_stores.s[0].env", 4, "give only one of"),
    ("ss-no-source", SS + '  { key = "a" },\n]\n', {},
     "local_server.secret_stores.s[0]", 4, 'needs one of "data", "file" or "env"'),
    ("ss-data-type", SS + '  { key = "a", data = 123456789 },\n]\n', {},
     "local_server.secret_stores.s[0].data", 4, "expected a string, got an integer"),
    ("ss-missing-file", SS + '  { key = "a", file = "s.txt" },\n]\n', {},
     "local_server.secret_stores.s[0].file", 4, 'cannot read "{dir}/s.txt"'),
    ("ss-json-syntax", '[local_server]\nsecret_stores.s = { file = "s.json", format = "json" }\n',
     {"s.json": '{"a": "hunter2-secret"'}, "local_server.secret_stores.s.file", 3,
     '"{dir}/s.json" is not valid UTF-8 JSON'),
    ("ss-json-value", '[local_server]\nsecret_stores.s = { file = "s.json", format = "json" }\n',
     {"s.json": {"a": 987654321}}, "local_server.secret_stores.s.file", 3,
     "the value must be a string"),
    ("ss-json-name", '[local_server]\nsecret_stores.s = { file = "s.json", format = "json" }\n',
     {"s.json": {"a b": "x"}}, "local_server.secret_stores.s.file", 3, "secret 'a b'"),
    # geolocation
    ("geo-format", GEO + 'format = "csv"\n', {},
     "local_server.geolocation.format", 3, 'unknown format "csv"'),
    ("geo-loopback", GEO + 'use_default_loopback = "yes"\n', {},
     "local_server.geolocation.use_default_loopback", 3, "expected true or false"),
    ("geo-no-addresses", GEO + 'format = "inline-toml"\n', {},
     "local_server.geolocation", 2, 'missing required key "addresses"'),
    ("geo-bad-ip", GEO + 'format = "inline-toml"\n[local_server.geolocation.addresses."1.2.3"]\ncity = "x"\n',
     {}, 'local_server.geolocation.addresses."1.2.3"', 4, "'1.2.3' is not an IP address"),
    ("geo-field-type", GEO + 'format = "inline-toml"\n[local_server.geolocation.addresses."1.2.3.4"]\n'
     'city = ["x"]\n', {}, 'local_server.geolocation.addresses."1.2.3.4".city', 5,
     "expected a string, number or boolean, got an array"),
    ("geo-record-type", GEO + 'format = "inline-toml"\naddresses = { "1.2.3.4" = "x" }\n', {},
     'local_server.geolocation.addresses."1.2.3.4"', 4, "expected a table"),
    ("geo-json-missing", GEO + 'format = "json"\nfile = "g.json"\n', {},
     "local_server.geolocation.file", 4, 'cannot read "{dir}/g.json"'),
    ("geo-json-array", GEO + 'format = "json"\nfile = "g.json"\n', {"g.json": []},
     "local_server.geolocation.file", 4, "must hold a JSON object"),
    ("geo-json-ip", GEO + 'format = "json"\nfile = "g.json"\n', {"g.json": {"x": {}}},
     "local_server.geolocation.file", 4, "'x' is not an IP address"),
    # device detection
    ("dd-format", DD + 'format = "xml"\n', {},
     "local_server.device_detection.format", 3, 'unknown format "xml"'),
    ("dd-no-agents", DD + 'format = "inline-toml"\n', {},
     "local_server.device_detection", 2, 'missing required key "user_agents"'),
    ("dd-entry-type", DD + 'format = "inline-toml"\nuser_agents = { "ua" = 1 }\n', {},
     "local_server.device_detection.user_agents.ua", 4, "expected a table, got an integer"),
    ("dd-field-type", DD + 'format = "inline-toml"\n[local_server.device_detection.user_agents.ua]\n'
     "device = { tags = [1] }\n", {}, "local_server.device_detection.user_agents.ua.device.tags", 5,
     "got an array"),
    ("dd-json-value", DD + 'format = "json"\nfile = "d.json"\n', {"d.json": {"ua": "x"}},
     "local_server.device_detection.file", 4, '"ua" must be an object, not a string'),
    # ACLs
    ("acl-missing", '[local_server]\nacls.a = "acl.json"\n', {},
     "local_server.acls.a", 3, 'cannot read "{dir}/acl.json"'),
    ("acl-table-missing", '[local_server]\nacls.a = { file = "acl.json" }\n', {},
     "local_server.acls.a.file", 3, 'cannot read "{dir}/acl.json"'),
    ("acl-no-file", '[local_server]\nacls.a = { path = "acl.json" }\n', {},
     "local_server.acls.a", 3, 'missing required key "file"'),
    ("acl-file-type", '[local_server]\nacls.a = { file = 1 }\n', {},
     "local_server.acls.a.file", 3, "expected a string, got an integer"),
    ("acl-type", "[local_server]\nacls.a = 1\n", {},
     "local_server.acls.a", 3, "expected a file name or"),
    ("acl-not-object", '[local_server]\nacls.a = "acl.json"\n', {"acl.json": []},
     "local_server.acls.a", 3, "must hold a JSON object"),
    ("acl-no-entries", '[local_server]\nacls.a = "acl.json"\n', {"acl.json": {}},
     "local_server.acls.a", 3, 'entries: missing (want {"entries": [...]})'),
    ("acl-prefix", '[local_server]\nacls.a = "acl.json"\n',
     {"acl.json": {"entries": [{"prefix": "1.2.3.0/24", "action": "BLOCK"},
                               {"prefix": "1.2.3.4/33", "action": "BLOCK"}]}},
     "local_server.acls.a", 3, "entries[1].prefix: invalid prefix '1.2.3.4/33': mask 33 outside"),
    ("acl-action", '[local_server]\nacls.a = "acl.json"\n',
     {"acl.json": {"entries": [{"prefix": "1.2.3.0/24"}]}},
     "local_server.acls.a", 3, 'entries[0]: missing "action"'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("toml", "files", "key", "line", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_section(
    tmp_path: Path, toml: str, files: dict[str, Any], key: str, line: int | None, needle: str
) -> None:
    err = build_error(tmp_path, toml, files)
    assert err.key == key
    assert err.line == line
    assert needle.replace("{dir}", str(tmp_path)) in err.problem
    assert str(err).startswith(f"{tmp_path / 'fastly.toml'}:{line}:")


def test_secret_values_stay_out_of_errors(tmp_path: Path) -> None:
    for case in ("ss-data-type", "ss-json-syntax", "ss-json-value"):
        _, toml, files, *_ = next(c for c in CASES if c[0] == case)
        message = str(build_error(tmp_path, toml, files))
        for secret in ("123456789", "hunter2", "987654321"):
            assert secret not in message
