"""The `compute-emu` command line: flags in, one settings object out, errors rendered once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem
from .cache.commands import purge as purge_command
from .cli_common import fail, project_options
from .cli_serve import serve
from .errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="compute-emu")
def main() -> None:
    """Run Python Fastly Compute apps locally, like `fastly compute serve`."""


main.add_command(serve)


@main.command(short_help="Build the app into bin/main.wasm and pkg/<name>.tar.gz for Fastly.")
@project_options
@click.option(
    "--build-env",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Python >= 3.12 virtualenv with fastly-compute [default: $COMPUTE_EMU_BUILD_ENV, the "
    "project's .venv, compute-emu's own, else compute-emu's build-env in its cache directory].",
)
@click.option("--force", is_flag=True, help="Build even if nothing changed since the last build.")
@click.option(
    "--setup-env",
    is_flag=True,
    help="Make (or update) the build environment (Python >= 3.12, fastly-compute, uv), then stop.",
)
@click.option(
    "--python",
    "python",
    default=None,
    help="With --setup-env: the Python >= 3.12 to make it with [default: found].",
)
def build(
    project_dir: Path,
    env: str | None,
    file: Path | None,
    build_env: Path | None,
    force: bool,
    setup_env: bool,
    python: str | None,
) -> None:
    """Build the app for Fastly Compute with Fastly's own toolchain: bin/main.wasm (run it
    locally with `compute-emu serve --wasm`) and pkg/<name>.tar.gz (`fastly compute deploy`)."""
    from .wasm import environment
    from .wasm.build import BuildSettings
    from .wasm.build import build as run_build

    try:
        if setup_env:
            root = build_env or environment.default_path()
            click.echo(f"making the build environment {root}")
            made = environment.setup(root, python, click.echo)
            version = made.sdk_version()
            click.echo(f"build environment ready: {made.root} (fastly-compute {version})")
            return
        if not project_dir.is_dir():
            raise UserError(f"-C/--dir {project_dir}: no such directory")
        settings = BuildSettings(
            project_dir=project_dir.resolve(),
            env=env,
            file=file.resolve() if file else None,
            build_env=build_env,
            force=force,
        )
        run_build(settings, click.echo)
    except UserError as exc:
        fail(str(exc))


class _InitCommand(click.Command):
    """`init`, whose help ends with the built-in starters (read when help is shown)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from .starters import starter_summaries

        summaries = starter_summaries()
        if summaries:
            with formatter.section("Built-in starters (--from NAME)"):
                formatter.write_dl(summaries)
        super().format_epilog(ctx, formatter)


def _complete_starter(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """`--from`: the built-in starters' names (with their descriptions), else a folder."""
    from click.shell_completion import CompletionItem

    from .starters import starter_summaries

    items = [
        CompletionItem(name, help=description)
        for name, description in starter_summaries()
        if name.startswith(incomplete)
    ]
    return items or [CompletionItem(incomplete, type="dir")]


@main.command(
    cls=_InitCommand,
    short_help="Create a project from a starter kit (folder, built-in or git URL).",
)
@click.option(
    "-f",
    "--from",
    "source",
    required=True,
    metavar="SRC",
    shell_complete=_complete_starter,
    help="Starter: a built-in starter's name (listed below), a folder or a git URL.",
)
@click.option(
    "-p",
    "--directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to create the project [default: the current directory].",
)
@click.option(
    "-n",
    "--name",
    default=None,
    help="Service name in fastly.toml [default: the directory's name].",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write into a non-empty directory (the starter's files replace same-named ones).",
)
def init(source: str, directory: Path | None, name: str | None, force: bool) -> None:
    """Create a project from a starter kit, like `fastly compute init --from`."""
    from .init import init_project, next_steps

    try:
        result = init_project(source, directory or Path("."), name=name, force=force)
    except UserError as exc:
        fail(str(exc))
    click.echo(next_steps(result))


_PUBLISH_EXAMPLES = """\b
Examples:
  compute-emu publish test "hello"        # streams, long-polls and WebSockets of test
  compute-emu publish test-sse "hello" --format sse --event message
  compute-emu publish test "hi" --format ws-message   # WebSockets only
  compute-emu publish test --action close
  date | compute-emu publish test -
"""


@main.command(
    short_help="Publish a message to a channel on the local Pushpin.", epilog=_PUBLISH_EXAMPLES
)
@click.argument("channel")
@click.argument("message", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["http-stream", "sse", "ws-message", "http-response"]),
    multiple=True,
    help="How subscribers get it; repeat for several. Default: http-stream, ws-message and "
    "http-response (every subscriber, whatever its transport; --action close: the first two, "
    "hint: http-stream and http-response). sse: an SSE event sent as http-stream content.",
)
@click.option("--no-newline", is_flag=True, help="http-stream: don't append a newline.")
@click.option("--event", default=None, metavar="NAME", help="sse: the event name.")
@click.option("--id", "item_id", default=None, help="Message id (for ordering with --prev-id).")
@click.option("--prev-id", default=None, help="Id of the message this one follows.")
@click.option(
    "--action",
    type=click.Choice(["close", "hint"]),
    default=None,
    help="Send an action instead of a MESSAGE: close the streams, or hint (re-request).",
)
@click.option(
    "--code",
    type=int,
    default=None,
    help="http-response: the status [default: 200]; ws-message --action close: the close code.",
)
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="http-response: a response header (repeatable).",
)
@click.option(
    "--url",
    default="http://127.0.0.1:5561",
    show_default=True,
    envvar="COMPUTE_EMU_PUBLISH_URL",
    help="The publish port (POSTs to <url>/publish/); env COMPUTE_EMU_PUBLISH_URL.",
)
def publish(
    channel: str,
    message: str | None,
    fmt: tuple[str, ...],
    no_newline: bool,
    event: str | None,
    item_id: str | None,
    prev_id: str | None,
    action: str | None,
    code: int | None,
    headers: tuple[str, ...],
    url: str,
) -> None:
    """Publish MESSAGE to CHANNEL on the local Pushpin (MESSAGE `-` reads stdin).

    One trailing newline of stdin is dropped; http-stream adds one back unless --no-newline.
    """
    from .publish import OptionError, build_item, chosen_formats, describe
    from .publish import publish as send

    if message == "-":
        try:
            message = sys.stdin.read()
        except UnicodeDecodeError:
            fail("MESSAGE from stdin is not UTF-8 text")
        message = message[:-2] if message.endswith("\r\n") else message.removesuffix("\n")
    try:
        item = build_item(
            channel,
            message,
            fmt=fmt,
            newline=not no_newline,
            event=event,
            id=item_id,
            prev_id=prev_id,
            action=action,
            code=code,
            headers=headers,
        )
    except OptionError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        answer = send(url, item)
    except UserError as exc:
        fail(str(exc))
    click.echo(f"{answer}: {describe(item, chosen_formats(fmt, action), message)}")


main.add_command(purge_command)
