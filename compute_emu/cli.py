"""The `compute-emu` command line: flags in, one settings object out, errors rendered once."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem
from .cache.commands import cache_options, cache_settings
from .cache.commands import purge as purge_command
from .cli_compat import fastly_flags, take_notes
from .errors import UserError, user_error_in
from .log import RequestLog


def _fail(message: str) -> None:
    click.secho("error: ", fg="red", bold=True, err=True, nl=False)
    click.echo(message, err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="compute-emu")
def main() -> None:
    """Run Python Fastly Compute apps locally, like `fastly compute serve`."""


@main.command()
@click.option(
    "--addr",
    default="127.0.0.1:7676",
    show_default=True,
    help="Address and port to listen on (port 0 picks a free port).",
)
@click.option(
    "-C",
    "--dir",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Project directory (where fastly.toml is).",
)
@click.option("--env", default=None, help="Read fastly.ENV.toml instead of fastly.toml.")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="App entry file (default: [scripts] entry in fastly.toml, else src/main.py).",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="-v: headers, each backend call, Pushpin's own lines, our frames in tracebacks; "
    "-vv: bodies too (first 1 KiB).",
)
@click.option("-q", "--quiet", is_flag=True, help="No per-request log lines.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line, for tools.",
)
@click.option(
    "--inspect-ws",
    is_flag=True,
    help="Log each WebSocket message through a handoff: direction, type, size, first bytes.",
)
@click.option(
    "--experimental-enable-pushpin",
    "enable_pushpin",
    is_flag=True,
    help="Run Pushpin for Fanout (same as [local_server.pushpin] enable = true).",
)
@click.option("--pushpin-path", default=None, help="Pushpin binary (default: pushpin on PATH).")
@click.option(
    "--pushpin-proxy-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Pushpin proxy port [default: 7677].",
)
@click.option(
    "--pushpin-publish-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Pushpin publish port [default: 5561].",
)
@click.option(
    "--client-ip",
    default=None,
    help="The client address the app sees (e.g. to try geolocation locally).",
)
@click.option(
    "--kv-persist",
    "kv_persist",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="COMPUTE_EMU_KV_PERSIST",
    help="Keep KV store writes in DIR across restarts (default: in memory, like Viceroy).",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up a request body that sends nothing for this long (408).",
)
@click.option(
    "--min-body-rate",
    type=click.FloatRange(min=0),
    default=240.0,
    show_default=True,
    metavar="BYTES_PER_S",
    help="A request body (408) or a response the client takes (closed) slower than this, on "
    "average after 5 s of waiting for the client, is given up; 0: no minimum.",
)
@click.option(
    "--max-threads",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    metavar="N",
    help="main() calls running at once (each on a thread of its own); more wait for one.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Client connections held at once; at the limit the one waiting longest for a request "
    "is closed, or 503 if all are busy [default: half the open-file limit].",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests for this Host (repeatable; '.example.com' for subdomains, "
    "'*' for any). By default only loopback names, the bound address and fastly.toml's hosts "
    "are answered (DNS-rebinding guard).",
)
@click.option(
    "--loop",
    "loop_choice",
    type=click.Choice(["auto", "asyncio", "uvloop"]),
    default="auto",
    show_default=True,
    envvar="COMPUTE_EMU_LOOP",
    help="The event loop: uvloop where installed (auto), or asyncio's own.",
)
@click.option(
    "--sdk-host",
    type=click.Choice(["native", "wit"]),
    default="native",
    envvar="COMPUTE_EMU_SDK_HOST",
    hidden=True,  # for compute-emu's own tests: the SDK over its Wasm host, natively
    help="How compute_emu.sdk reaches the runtime: natively, or through its Wasm host over "
    "compute-emu's wit_world (needs fastly-compute's stubs, Python >= 3.12).",
)
@click.option(
    "--wasm",
    "wasm",
    is_flag=False,
    flag_value="bin/main.wasm",
    default=None,
    metavar="[PATH]",
    help="Serve the built component (default bin/main.wasm, from `compute-emu build`) under "
    "wasmtime instead of the Python source: the check before deploying.",
)
@click.option(
    "--build-env",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The build environment (Python >= 3.12 with fastly-compute) whose bindings --wasm "
    "reads [default: $COMPUTE_EMU_BUILD_ENV, else as `compute-emu build` finds it].",
)
@fastly_flags
@cache_options
def serve(
    addr: str,
    project_dir: Path,
    env: str | None,
    file: Path | None,
    verbose: int,
    quiet: bool,
    log_format: str,
    inspect_ws: bool,
    enable_pushpin: bool,
    pushpin_path: str | None,
    pushpin_proxy_port: int | None,
    pushpin_publish_port: int | None,
    client_ip: str | None,
    kv_persist: Path | None,
    body_timeout: float,
    min_body_rate: float,
    max_threads: int,
    max_connections: int | None,
    allow_hosts: tuple[str, ...],
    loop_choice: str,
    sdk_host: str,
    wasm: str | None,
    build_env: Path | None,
    **fastly_cli_flags: object,
) -> None:
    """Serve the app on --addr (default 127.0.0.1:7676) until Ctrl-C.

    The flags of `fastly compute serve` that mean nothing here (--watch, --skip-build, ...)
    are accepted with a note.
    """
    import anyio

    from .aio.event_loop import backend_options, loop_name
    from .restart import exec_again, restart_in
    from .serve import Server, ServeSettings, parse_addr, parse_client_ip

    log = RequestLog(
        verbose=verbose, quiet=quiet, json_lines=log_format == "json", inspect_ws=inspect_ws
    )
    for note in take_notes(fastly_cli_flags):
        log.info(note)
    _raise_fd_limit()
    try:
        host, port = parse_addr(addr)
        if not project_dir.is_dir():
            raise UserError(f"-C/--dir {project_dir}: no such directory")
        settings = ServeSettings(
            project_dir=project_dir.resolve(),
            env=env,
            host=host,
            port=port,
            file=file.resolve() if file else None,
            verbose=verbose > 0,
            quiet=quiet,
            enable_pushpin=enable_pushpin,
            pushpin_path=_as_path(pushpin_path),
            pushpin_proxy_port=pushpin_proxy_port,
            pushpin_publish_port=pushpin_publish_port,
            client_ip=parse_client_ip(client_ip),
            kv_persist=kv_persist.resolve() if kv_persist else None,
            body_timeout=body_timeout,
            min_body_rate=min_body_rate,
            max_threads=max_threads,
            max_connections=max_connections,
            allow_hosts=allow_hosts,
            sdk_host=sdk_host,
            wasm=Path(wasm) if wasm is not None else None,
            build_env=build_env,
            **cache_settings(),
        )
        server = Server(settings, log)
        options = backend_options(loop_choice)
        log.debug(f"event loop: {loop_name(options)}")
        anyio.run(server.run, backend_options=options)
    except UserError as exc:
        _fail(str(exc))
    except BaseExceptionGroup as group:  # raised in a task (Pushpin failing, say)
        if restart_in(group):  # fastly.toml changed Pushpin's settings
            exec_again()
        if (error := user_error_in(group)) is None:
            raise
        _fail(str(error))
    except KeyboardInterrupt:
        pass
    log.info("compute-emu stopped")
    _exit_despite_running_apps()


def _raise_fd_limit() -> None:
    """Held streams cost two file descriptors each (client and Pushpin): a default soft
    limit of 1,024 would stop a load test at ~500. Raise it to the hard limit."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _as_path(value: str | None) -> str | None:
    """A path given on the command line, made absolute; a bare name is looked up on PATH."""
    if value is None or "/" not in value:
        return value
    return str(Path(value).resolve())


def _exit_despite_running_apps() -> None:
    """main() calls still running in worker threads (an app stuck in a sleep or a loop) would
    keep the interpreter alive forever: Python cannot stop a thread. Leave without them."""
    import os
    import threading

    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if stuck:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@main.command(short_help="Build the app into bin/main.wasm and pkg/<name>.tar.gz for Fastly.")
@click.option(
    "-C",
    "--dir",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Project directory (where fastly.toml is).",
)
@click.option("--env", default=None, help="Read fastly.ENV.toml instead of fastly.toml.")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="App entry file (default: [scripts] entry in fastly.toml, else src/main.py).",
)
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
        _fail(str(exc))


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
        _fail(str(exc))
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
            _fail("MESSAGE from stdin is not UTF-8 text")
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
        _fail(str(exc))
    click.echo(f"{answer}: {describe(item, chosen_formats(fmt, action), message)}")


main.add_command(purge_command)
