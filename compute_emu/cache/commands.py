"""The cache's command line: ``serve --no-cache/--cache-size`` and ``compute-emu purge``."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import click

from ..errors import UserError
from .store import DEFAULT_CAPACITY

F = TypeVar("F", bound=Callable[..., Any])
_META = "compute_emu.cache"
_SIZE = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[kmg]i?b?|b)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """``"256MiB"``, ``"64m"``, ``"1048576"`` -> bytes (binary units)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise click.BadParameter(f"{text!r}: expected a size such as 256MiB, 64M or 1048576")
    unit = (match["unit"] or "").lower()[:1]
    return int(float(match["n"]) * _UNITS[unit])


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        ctx.meta.setdefault(_META, {})[name] = value

    return callback


def cache_options(func: F) -> F:
    """``--no-cache`` and ``--cache-size`` for ``serve`` (read back with :func:`cache_settings`)."""
    func = click.option(
        "--cache-size",
        default="256MiB",
        show_default=True,
        metavar="SIZE",
        expose_value=False,
        callback=lambda ctx, param, value: _store("cache_size")(ctx, param, parse_size(value)),
        help="Memory the cache may use (LRU eviction beyond it), e.g. 64MiB.",
    )(func)
    func = click.option(
        "--no-cache",
        is_flag=True,
        expose_value=False,
        callback=_store("no_cache"),
        help="Turn the readthrough HTTP cache off: every send() goes to the backend.",
    )(func)
    return func


def cache_settings() -> dict[str, Any]:
    """The ServeSettings fields the cache options gave (inside the ``serve`` command)."""
    given = click.get_current_context().meta.get(_META, {})
    return {
        "cache_size": given.get("cache_size", DEFAULT_CAPACITY),
        "no_cache": bool(given.get("no_cache", False)),
    }


def send_purge(addr: str, keys: tuple[str, ...], everything: bool, soft: bool) -> int:
    """POST the purge to a running ``compute-emu serve``; how many objects it purged."""
    import http.client  # (with the email package) for this command alone, not every serve

    parts = urlsplit(addr if "://" in addr else f"http://{addr}")
    host, port = parts.hostname or "127.0.0.1", parts.port or 7676
    query: list[tuple[str, str]] = [("key", k) for k in keys]
    if everything:
        query.append(("all", "1"))
    if soft:
        query.append(("soft", "1"))
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", "/.compute-emu/purge?" + urlencode(query), headers={"Host": host})
        answer = conn.getresponse()
        body = answer.read().decode("utf-8", "replace")
    except OSError as exc:
        raise UserError(
            f"cannot reach compute-emu at {host}:{port} ({exc}); is `compute-emu serve` running?"
        ) from None
    finally:
        conn.close()
    if answer.status != 200:
        raise UserError(f"purge refused ({answer.status}): {body.strip()}")
    return int(json.loads(body)["purged"])


@click.command(short_help="Purge the cache of a running `compute-emu serve`.")
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@click.option("--all", "everything", is_flag=True, help="Purge everything.")
@click.option("--soft", is_flag=True, help="Mark stale instead of removing (soft purge).")
@click.option(
    "--addr",
    default="127.0.0.1:7676",
    show_default=True,
    help="Where `compute-emu serve` listens.",
)
def purge(keys: tuple[str, ...], everything: bool, soft: bool, addr: str) -> None:
    """Purge objects by surrogate KEY (repeatable), or --all, from the running server's cache."""
    if not keys and not everything:
        raise click.UsageError("name a surrogate KEY to purge, or --all")
    try:
        count = send_purge(addr, keys, everything, soft)
    except UserError as exc:
        click.secho("error: ", fg="red", bold=True, err=True, nl=False)
        click.echo(str(exc), err=True)
        sys.exit(1)
    what = "everything" if everything else ", ".join(keys)
    verb = "soft-purged" if soft else "purged"
    click.echo(f"{verb} {count} object{'s' if count != 1 else ''} ({what})")
