"""`compute-emu serve`: its flags, read into one ``Settings``, and the server run until Ctrl-C."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from .cache.commands import cache_options, cache_settings
from .cli_common import fail, project_options
from .cli_compat import fastly_flags, take_notes
from .errors import UserError, user_error_in
from .log import RequestLog


@click.command()
@click.option(
    "--addr",
    default="127.0.0.1:7676",
    show_default=True,
    help="Address and port to listen on (port 0 picks a free port).",
)
@project_options
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
        fail(str(exc))
    except BaseExceptionGroup as group:  # raised in a task (Pushpin failing, say)
        if restart_in(group):  # fastly.toml changed Pushpin's settings
            exec_again()
        if (error := user_error_in(group)) is None:
            raise
        fail(str(error))
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
