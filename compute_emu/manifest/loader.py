"""Read and validate fastly.toml (or fastly.ENV.toml) into a ``Manifest``."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any

from compute_emu.errors import ManifestError

from ._context import Context, describe, unknown_key_problem
from .backends import parse_backends
from .files import DATA_FILE_MAX_BYTES, MAX_NESTING, nesting_problem, read_file
from .locate import KeyPath, nesting_position, render_key
from .model import LATEST_MANIFEST_VERSION, Manifest, PushpinConfig, Scripts
from .values import conf_value_problem

#: ``[local_server]`` keys known to Viceroy or the Fastly CLI; kept raw for later validation.
LOCAL_SERVER_KEYS = (
    "backends",
    "pushpin",
    "config_stores",
    "dictionaries",
    "kv_stores",
    "object_stores",
    "object_store",
    "secret_stores",
    "geolocation",
    "device_detection",
    "acls",
    "shielding_sites",
    "fake_valid_fastly_keys",
    "viceroy_version",
    "websockets_passthrough",
)
PUSHPIN_KEYS = ("enable", "pushpin_path", "proxy_port", "publish_port", "sig_iss", "sig_key")

_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_SYNTAX_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
_VERSION = re.compile(r"v?(\d+)(?:\.\d+){0,2}(?:[-+][0-9A-Za-z.+-]*)?")


def manifest_path(project_dir: Path, env: str | None = None) -> Path:
    """``project_dir/fastly.toml``, or ``project_dir/fastly.<env>.toml`` for ``--env``."""
    return Path(project_dir) / (f"fastly.{env}.toml" if env else "fastly.toml")


def load_manifest(project_dir: Path, env: str | None = None) -> Manifest:
    """Read and validate the project's manifest; its relative paths resolve from ``project_dir``."""
    path = manifest_path(project_dir, env)
    try:
        data = read_file(path, DATA_FILE_MAX_BYTES, "fastly.toml")
    except FileNotFoundError:
        if env:
            problem = (
                f"no fastly.{env}.toml found in {Path(project_dir)} (--env {env} selects it); "
                "create it, or drop --env to use fastly.toml"
            )
        else:
            problem = (
                f"no fastly.toml found in {Path(project_dir)}; create one there, "
                "or pass -C DIR to use another project directory"
            )
        raise ManifestError(str(path), "", problem) from None
    except OSError as exc:
        raise ManifestError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ManifestError(str(path), "", f"not UTF-8 text ({exc.reason})") from None
    return parse_manifest(text, path, Path(os.path.abspath(project_dir)))


def parse_manifest(text: str, path: Path, project_dir: Path) -> Manifest:
    """Validate ``text``; ``path`` is named in messages, files resolve from ``project_dir``."""
    too_deep = f"arrays and tables nested more than {MAX_NESTING} levels deep"
    position = nesting_position(text, MAX_NESTING)
    if position is not None:  # tomllib recurses: refuse before it runs out of stack
        raise ManifestError(
            str(path), "", f"invalid TOML: {too_deep}", line=position[0], column=position[1]
        )
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(exc, text, path) from None
    except RecursionError:  # not expected after the scan; never a traceback, though
        raise ManifestError(str(path), "", f"invalid TOML: {too_deep}") from None
    ctx = Context(text, path, project_dir)
    deep = nesting_problem(doc)
    if deep is not None:  # dotted keys nest without brackets: a.a.a.a... = 1
        line, column = ctx.position(deep)
        raise ManifestError(
            str(path), render_key(deep[:3]) + "...", too_deep, line=line, column=column
        )
    manifest_version = _manifest_version(ctx, doc)
    name = ctx.string(doc, ("name",)) or ""
    description = ctx.string(doc, ("description",)) or ""
    authors = _authors(ctx, doc)
    language = ctx.string(doc, ("language",)) or ""
    scripts = _scripts(ctx, doc.get("scripts", {}))
    local_server = ctx.table(doc.get("local_server", {}), ("local_server",))
    for key in local_server:
        if key not in LOCAL_SERVER_KEYS:
            ctx.warn(
                ("local_server", key), unknown_key_problem(key, LOCAL_SERVER_KEYS) + "; ignored"
            )
    backends = parse_backends(ctx, local_server.get("backends", {}))
    pushpin = _pushpin(ctx, local_server.get("pushpin", {}))
    return Manifest(
        path=path,
        project_dir=project_dir,
        manifest_version=manifest_version,
        name=name,
        description=description,
        authors=authors,
        language=language,
        scripts=scripts,
        backends=MappingProxyType(backends),
        pushpin=pushpin,
        local_server=MappingProxyType(local_server),
        warnings=tuple(ctx.warnings),
        _env_file_pos=ctx.position(("scripts", "env_file")),
    )


def _syntax_error(exc: tomllib.TOMLDecodeError, text: str, path: Path) -> ManifestError:
    line: int | None = getattr(exc, "lineno", None)
    column: int | None = getattr(exc, "colno", None)
    message = str(getattr(exc, "msg", "") or exc) if line is not None else str(exc)
    match = _SYNTAX_POSITION.search(message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    elif _SYNTAX_AT_END.search(message):
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        message = _SYNTAX_AT_END.sub("", message)
    return ManifestError(str(path), "", f"invalid TOML: {message}", line=line, column=column)


def _manifest_version(ctx: Context, doc: dict[str, Any]) -> int:
    key: KeyPath = ("manifest_version",)
    value = doc.get("manifest_version")
    if isinstance(value, int) and not isinstance(value, bool):
        version = value
    elif isinstance(value, str) and (match := _VERSION.fullmatch(value.strip())):
        version = int(match.group(1))
    elif value is None:
        version = 0
    else:
        ctx.fail(key, f"expected an integer such as 3 (or a version string), got {describe(value)}")
    if version < 0:
        ctx.fail(key, f"must be a positive integer, got {version}")
    if version == 0:
        ctx.warn(
            key,
            f"missing; assuming {LATEST_MANIFEST_VERSION} "
            f"(add manifest_version = {LATEST_MANIFEST_VERSION} at the top)",
        )
        return LATEST_MANIFEST_VERSION
    if version > LATEST_MANIFEST_VERSION:
        ctx.fail(
            key,
            f"manifest_version {version} is newer than this tool supports "
            f"(latest is {LATEST_MANIFEST_VERSION})",
        )
    return version


def _authors(ctx: Context, doc: dict[str, Any]) -> tuple[str, ...]:
    value = doc.get("authors", [])
    if not isinstance(value, list):
        ctx.fail(("authors",), f"expected an array of strings, got {describe(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            ctx.fail(("authors", i), f"expected a string, got {describe(item)}")
    return tuple(value)


def _scripts(ctx: Context, value: Any) -> Scripts:
    key: KeyPath = ("scripts",)
    table = ctx.table(value, key)
    env_vars = table.get("env_vars", [])
    if not isinstance(env_vars, list):
        ctx.fail((*key, "env_vars"), f"expected an array of strings, got {describe(env_vars)}")
    for i, item in enumerate(env_vars):
        if not isinstance(item, str):
            ctx.fail((*key, "env_vars", i), f"expected a string, got {describe(item)}")
        if not item.partition("=")[0].strip() or "=" not in item:
            ctx.fail((*key, "env_vars", i), f'expected "KEY=VALUE", got {item!r}')
    env_file = ctx.path_string(table, (*key, "env_file"))
    entry = ctx.path_string(table, (*key, "entry"))
    return Scripts(
        build=ctx.string(table, (*key, "build")) or None,
        env_vars=tuple(env_vars),
        env_file=ctx.resolve(env_file) if env_file else None,
        entry=ctx.resolve(entry) if entry else None,
    )


def _pushpin(ctx: Context, value: Any) -> PushpinConfig:
    key: KeyPath = ("local_server", "pushpin")
    table = ctx.table(value, key)
    ctx.check_keys(table, key, PUSHPIN_KEYS)
    pushpin_path = ctx.path_string(table, (*key, "pushpin_path")) or None
    if pushpin_path and ("/" in pushpin_path or os.sep in pushpin_path):
        pushpin_path = os.path.abspath(ctx.resolve(pushpin_path))
    ports = []
    for name in ("proxy_port", "publish_port"):
        port = ctx.integer(table, (*key, name))
        if port is not None and not 0 <= port <= 65535:
            ctx.fail(
                (*key, name), f"expected a port number 1-65535 (0 means the default), got {port}"
            )
        ports.append(port or None)
    signing = []
    for name in ("sig_iss", "sig_key"):
        value = ctx.string(table, (*key, name))
        problem = conf_value_problem(value) if value else None
        if problem:  # names the character, never the value (sig_key is a secret)
            if name == "sig_key":
                problem += "; write such a key as base64:<the key in base64>"
            ctx.fail((*key, name), problem)
        signing.append(value)
    return PushpinConfig(
        enable=ctx.boolean(table, (*key, "enable"), False),
        pushpin_path=pushpin_path,
        proxy_port=ports[0],
        publish_port=ports[1],
        sig_iss=signing[0],
        sig_key=signing[1],
    )
