"""Pushpin's configuration as pure functions of the manifest, the settings and the version.

Everything Pushpin opens is bound to 127.0.0.1 (the Fastly CLI binds the publish API on
0.0.0.0; we don't), and no TCP ZeroMQ port is opened: children talk over ipc sockets in a
private run directory. See shared/reference/pushpin.md for the traps this avoids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import UserError
from ..manifest import BackendConfig, PushpinConfig
from ..manifest.values import conf_value_problem

# The local Grip-Sig issuer and key of the Fastly CLI (fastly/cli PR #1569), so an origin
# that verifies Grip-Sig works the same under `fastly compute serve` and compute-emu.
DEFAULT_SIG_ISS = "viceroy"
DEFAULT_SIG_KEY = "viceroy_dev_signing_key_dont_use_in_production"
DEFAULT_PROXY_PORT = 7677
DEFAULT_PUBLISH_PORT = 5561
MAX_PUBLISH_BODY = 65536  # Fanout's message size limit (the CLI sets the same)
SUN_PATH_MAX = 107  # usable bytes of a unix socket path
# Where pushpin-handler publishes its statistics (a ZeroMQ PUB socket; see pushpin/stats.py)
STATS_SPEC = "ipc://{rundir}/{ipc_prefix}stats"


@dataclass(frozen=True, order=True)
class PushpinVersion:
    """``pushpin --version`` parsed."""

    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


# what `pushpin --version` prints (every release: "<name> <version>"), on a line of its own
_VERSION = re.compile(r"^\s*pushpin\s+v?(\d+)\.(\d+)(?:\.(\d+))?(?![\d.])", re.I | re.M)


def parse_version(output: str, binary: str = "pushpin") -> PushpinVersion:
    """``"pushpin 1.36.0"`` -> 1.36.0; otherwise ``binary`` is not Pushpin: a UserError
    quoting the first line it printed."""
    match = _VERSION.search(output)
    if not match:
        said = next((line.strip() for line in output.splitlines() if line.strip()), "")
        raise UserError(
            f"{binary} is not Pushpin: `{binary} --version` printed "
            f"{repr(said) if said else 'nothing'} (Pushpin prints e.g. 'pushpin 1.36.0'); "
            "point --pushpin-path or [local_server.pushpin] pushpin_path at Pushpin"
        )
    return PushpinVersion(int(match[1]), int(match[2]), int(match[3] or 0))


def services_line(version: PushpinVersion) -> str:
    """The runner's services for this release (the names changed at 1.38 and 1.40)."""
    if version < PushpinVersion(1, 38):
        return "condure,zurl,pushpin-proxy,pushpin-handler"
    if version < PushpinVersion(1, 40):
        return "condure,pushpin-proxy,pushpin-handler"
    return "connmgr,proxy,handler"


def longest_socket_suffix(version: PushpinVersion) -> int:
    """Length of the longest ipc socket name Pushpin creates in its run directory."""
    # 1.36: "condure-out-stream" (18); 1.40+: "connmgr-client-in-stream" (24)
    return 18 if version < PushpinVersion(1, 40) else 24


IPC_PREFIX = "pushpin-"


def check_rundir(rundir: str, version: PushpinVersion) -> None:
    """Unix socket paths are limited to 107 bytes: fail clearly before Pushpin aborts."""
    longest = len(rundir) + 1 + len(IPC_PREFIX) + longest_socket_suffix(version)
    if longest > SUN_PATH_MAX:
        raise UserError(
            f"the Pushpin run directory {rundir} is too long for unix sockets "
            f"({longest} > {SUN_PATH_MAX} bytes); set TMPDIR to a shorter directory"
        )


@dataclass(frozen=True)
class PushpinSettings:
    """What the generated configuration depends on."""

    proxy_port: int = DEFAULT_PROXY_PORT
    publish_port: int = DEFAULT_PUBLISH_PORT
    sig_iss: str = DEFAULT_SIG_ISS
    sig_key: str = DEFAULT_SIG_KEY


def pushpin_settings(
    enable_flag: bool,
    proxy_port_flag: int | None,
    publish_port_flag: int | None,
    config: PushpinConfig,
) -> tuple[bool, PushpinSettings]:
    """Whether Fanout is on, and Pushpin's settings: the flag, then ``[local_server.pushpin]``,
    then the default."""
    return enable_flag or config.enable, PushpinSettings(
        proxy_port=proxy_port_flag or config.proxy_port or DEFAULT_PROXY_PORT,
        publish_port=publish_port_flag or config.publish_port or DEFAULT_PUBLISH_PORT,
        sig_iss=config.sig_iss or DEFAULT_SIG_ISS,
        sig_key=config.sig_key or DEFAULT_SIG_KEY,
    )


def _conf_value(name: str, value: str) -> str:
    """A value for pushpin.conf; one that could change its meaning is refused (not quoted).

    The manifest loader already refuses these with the file and line; this is the last guard.
    """
    problem = conf_value_problem(value)
    if problem:
        raise UserError(f"cannot write {name} into Pushpin's configuration: it {problem}")
    return value


def stats_address(rundir: str) -> str:
    """The ZeroMQ address of pushpin-handler's stats socket for this run directory."""
    return STATS_SPEC.format(rundir=rundir, ipc_prefix=IPC_PREFIX)


def pushpin_conf(
    settings: PushpinSettings,
    version: PushpinVersion,
    rundir: str,
    routes_file: str,
    *,
    api_port: int | None = None,
    log_level: int = 2,
) -> str:
    """The text of pushpin.conf (values on their own lines: Pushpin has no trailing comments).

    ``api_port`` is where Pushpin's own publish API listens: compute-emu listens on
    ``settings.publish_port`` itself and forwards there (default: ``settings.publish_port``).
    ``log_level``: 2 logs a line per request (shown with ``-v``), 1 only warnings and errors
    (compute-emu then never wakes up to read and drop per-request lines).
    """
    sig_iss = _conf_value("sig_iss", settings.sig_iss)
    sig_key = _conf_value("sig_key", settings.sig_key)
    lines = [
        "# generated by compute-emu; rewritten on every start",
        "[global]",
        "include={libdir}/internal.conf",
        f"rundir={rundir}",
        f"ipc_prefix={IPC_PREFIX}",
        "port_offset=0",
        "stats_connection_ttl=120",
        "",
        "[runner]",
        f"services={services_line(version)}",
        f"http_port=127.0.0.1:{settings.proxy_port}",
        f"log_level={log_level}",
        "client_buffer_size=8192",
        "client_maxconn=50000",
        "allow_compression=false",
        "",
        "[proxy]",
        f"routesfile={routes_file}",
    ]
    if version < PushpinVersion(1, 38):
        # Debian's internal.conf points these at a system zurl; without them requests hang
        lines += [
            "zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in",
            "zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream",
            "zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out",
        ]
    lines += [
        "debug=true",
        "accept_pushpin_route=true",
        "x_forwarded_for=",
        f"sig_iss={sig_iss}",
        f"sig_key={sig_key}",
        "updates_check=off",
        "",
        "[handler]",
        "push_in_http_addr=127.0.0.1",
        f"push_in_http_port={settings.publish_port if api_port is None else api_port}",
        f"stats_spec={STATS_SPEC}",
        # 1.36-1.40 read the first spelling, 1.41+ the second; each ignores the other
        f"push_in_max_body_size={MAX_PUBLISH_BODY}",
        f"push_in_http_max_body_size={MAX_PUBLISH_BODY}",
        "",
    ]
    return "\n".join(lines)


# Characters the routes file's line parser gives a meaning to outside quotes: the section
# separator, the property separator, a comment and the quote itself.
_ROUTE_SPECIAL = frozenset(' ,#"\\')


def route_value(value: str) -> str:
    """``value`` as one routes-file token: as it is when plain, else in ``"..."``.

    Inside quotes Pushpin reads ``\\\\`` and ``\\"`` as escapes. A line break cannot be
    quoted (the file is read line by line), so control characters are refused.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UserError(f"cannot write {value!r} into Pushpin's routes: it has a control character")
    if not _ROUTE_SPECIAL.intersection(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def route_line(backend: BackendConfig) -> str:
    """One routes-file line for a backend, as the Fastly CLI builds it (plus quoting)."""
    condition = f"id={route_value(backend.name)}"
    if backend.path_prefix:
        condition += f",replace_beg={route_value(backend.path_prefix)}"
    target = f"{route_value(backend.authority)},over_http"
    if backend.scheme == "https":
        target += ",ssl"
    host = backend.override_host
    if host is None and not _is_ip(backend.host):
        # the CLI defaults the route's host to a named backend's URL host (port as written)
        host = urlsplit(backend.url).netloc.rpartition("@")[2]
    if host:
        target += f",host={route_value(host)}"
    return f"{condition} {target}"


# Readiness probes, reachable only with a Pushpin-Route header naming them:
# - through the outgoing HTTP client (zurl) to Pushpin's own publish API, and
# - to Pushpin's built-in test handler, whose /stream is a GRIP stream hold (so the
#   proxy->handler accept link is exercised); its channel gets a prefix that keeps it
#   apart from the app's channels.
PROBE_CLIENT_ROUTE = "compute-emu-probe-client"
PROBE_ACCEPT_ROUTE = "compute-emu-probe-accept"
# - one more, named after the file's generation, to Pushpin's test handler: once it answers,
#   Pushpin has loaded that version of the file (it swaps all routes at once).
PROBE_ROUTES_PREFIX = "compute-emu-probe-routes-"


def routes_probe_route(generation: int) -> str:
    """The id of the probe route that only the routes file of ``generation`` has."""
    return f"{PROBE_ROUTES_PREFIX}{generation}"


def routes_file(
    backends: Mapping[str, BackendConfig], publish_port: int, generation: int = 0
) -> str:
    """The routes file: one line per backend, in manifest order, plus the readiness probes.

    ``publish_port`` is the port of Pushpin's own publish API (the client probe's target).
    """
    lines = [route_line(backend) for backend in backends.values()]
    lines.append(f"id={PROBE_CLIENT_ROUTE} 127.0.0.1:{publish_port}")
    lines.append(f"id={PROBE_ACCEPT_ROUTE},prefix=compute-emu-probe- test")
    lines.append(f"id={routes_probe_route(generation)} test")
    return "".join(line + "\n" for line in lines)


def _is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[\d.]+", host)) or ":" in host
