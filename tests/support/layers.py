"""The suite's layers: what kind of test each file holds, and a guard that keeps it true.

- ``unit``: pure rules and units. No socket is bound or connected, no process started.
- ``inprocess``: real sockets in this process (in-process servers, ``Emulator`` without
  Pushpin, the relay on loopback). No process started.
- ``e2e``: real processes: ``compute-emu serve``, Pushpin, node, Chromium, wheel builds, the
  official SDK's venv.
- ``slow`` (beside a layer): the deliberate soak and fuzz tests.

A test's layer is its file's (``FILES``) unless ``TESTS`` names the test function; a test
that uses a fixture of ``E2E_FIXTURES`` (directly or through another fixture) is ``e2e``
whatever the tables say, and so is a test run on the SDK's Wasm host (``[wit]``, a process);
one that uses ``INPROCESS_FIXTURES`` is at least ``inprocess``.
A new test file must be added to ``FILES`` (tests/test_suite_layers.py fails until it is;
till then its tests count as ``e2e``). The guard (:func:`audit`) fails a ``unit`` test that
binds or connects a socket and a ``unit`` or ``inprocess`` test that starts a process, so a
table that says too little is found out by the test itself.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

UNIT, INPROCESS, E2E = "unit", "inprocess", "e2e"
LAYERS = (UNIT, INPROCESS, E2E)  # in order: each may do what the ones before it do
T = TypeVar("T")

E2E_FIXTURES = frozenset(
    {
        "spawn",  # tests/conftest.py: every child process (serve, backend, origin, fanout, ...)
        "spawn_module",  # the same, shared by a module's tests (shared_fanout, ...)
        "browser",  # tests/test_browser.py: Chromium
        "served",  # tests/test_official_*.py: an app of the official SDK's venv
        "pushpin_url",  # tests/test_publish.py: a real Pushpin
        "official_built",  # tests/conftest.py: Wasm components built by `compute-emu build`
        "sdk_built",
    }
)
INPROCESS_FIXTURES = frozenset(
    {
        "net",  # tests/conftest.py: a loopback listener
        "compute_emu",  # compute_emu.testing's Emulator
        "compute_emu_module",
        "mock_backend",
    }
)


def _files(layer: str, names: str) -> dict[str, str]:
    return {f"test_{name}.py": layer for name in names.split()}


FILES: dict[str, str] = {
    **_files(
        UNIT,
        """
        admission app_load body build_cache_lock cache_calls cache_freshness cache_policy
        cache_readthrough_units cache_store console_admission console_pushpin_stats
        console_state crate_coverage docs_links environ erl event_loop fanout_routes
        fuzz_manifest init log log_inspect_ws loop_flag manifest manifest_corpus
        manifest_files newcomer_commands official_units one_async_world platform_calls
        platform_config platform_errors platform_kv platform_lookups publish
        publish_admission publish_backends pushpin_config rules_backend rules_chunked
        rules_connection_slots rules_data_rate rules_framing rules_handoff
        rules_http1_client rules_http1_server rules_http1_states rules_ws_frames sdk
        sdk_host_errors sdk_imports sdk_streams starter_copies suite_layers support_ports
        testing_units
        traceback_width upstream_client upstream_pool wasm_scan wasm_stub_cache wasm_units
        wit_values workers
        """,
    ),
    **_files(
        INPROCESS,
        """
        cache_api cache_collapse cache_readthrough connection exchange_framing
        fuzz_request_head port_conflicts publish_guard relay relay_chunked relay_ws_counts
        manifest_watch testing_cache testing_emulator testing_watch transport two_servers
        """,
    ),
    **_files(
        E2E,
        """
        aborts backend_request_bytes backend_status_e2e backends bench_official browser cli
        console_browser console_http data_path debug_debugpy debug_pdb errors
        errors_guardrails fanout fanout_lifecycle front_door_differential hardening_app
        hardening_pushpin hardening_reaping kv_persist_crash log_backend_body log_fanout
        log_handlers log_serve log_ws_counts manifest_paths official_examples
        official_fanout official_platform official_raw official_reload
        official_starter_tests official_world origin_down output_lost platform_e2e platform_runtime
        processes_psutil publish_from_app publish_port pushpin_lifetime pushpin_links
        pushpin_values readme request_framing_e2e resource_limits resource_limits_fanout
        rules_layers sdk_crate serve starters testing_fanout testing_packaging
        testing_plugin testing_websocket unanswered upstream_e2e upstream_handoff
        upstream_layers upstream_network viceroy_diffs walkthrough wasm_official wasm_sdk
        watch watch_restart wit_host
        """,
    ),
}

# test functions whose layer is not their file's (all their parameters share it)
TESTS: dict[str, str] = {
    "test_bench_official.py::test_without_the_official_env_the_row_says_how_to_make_it": UNIT,
    "test_cache_api.py::test_purge_endpoint_rules": UNIT,
    "test_errors.py::test_only_loopback_clients_see_details": UNIT,
    "test_fuzz_request_head.py::test_check_request_answers_none_or_a_refusal": UNIT,
    "test_hardening_app.py::test_a_replaced_handler_still_in_a_list_being_walked_stays_quiet": UNIT,
    "test_hardening_app.py::test_other_endpoints_and_other_loggers_are_independent": UNIT,
    "test_hardening_app.py::test_the_last_handler_added_for_an_endpoint_replaces_the_others": UNIT,
    "test_hardening_reaping.py::test_instances_of_one_project_have_a_state_file_each": UNIT,
    "test_hardening_reaping.py::test_this_process_is_a_live_owner": UNIT,
    "test_init.py::test_a_failing_clone_quotes_git": E2E,
    "test_init.py::test_init_from_a_git_url": E2E,
    "test_init.py::test_wheel_installed_outside_the_checkout_ships_the_builtin_starters": E2E,
    "test_newcomer_commands.py::test_from_completes_the_builtin_starters_and_else_folders": E2E,
    "test_newcomer_commands.py::test_the_wrong_python_message_gives_a_pip_command_that_works": E2E,
    "test_official_units.py::test_official_env_without_python_3_12_fails_with_the_command": E2E,
    "test_origin_down.py::test_the_reason_for_each_way_a_connect_fails": UNIT,
    "test_port_conflicts.py::test_a_taken_app_port_alone_names_only_addr": E2E,
    "test_output_lost.py::test_a_line_for_a_closed_terminal_is_dropped_and_the_terminal_left": UNIT,
    "test_output_lost.py::test_a_write_error_that_is_not_a_lost_reader_is_raised": UNIT,
    "test_processes_psutil.py::test_start_time_is_seconds_since_boot_and_stable": UNIT,
    "test_processes_psutil.py::test_the_process_holding_a_port_is_named": INPROCESS,
    "test_publish.py::test_a_message_that_is_not_utf8": INPROCESS,
    "test_publish.py::test_option_mistakes_are_usage_errors": INPROCESS,
    "test_publish.py::test_other_statuses": INPROCESS,
    "test_publish.py::test_posts_the_item_and_reports": INPROCESS,
    "test_publish.py::test_pushpin_400_text_is_the_error": INPROCESS,
    "test_publish.py::test_refused_connection_says_how_to_start_pushpin": E2E,
    "test_publish.py::test_stdin_message_drops_one_trailing_newline": INPROCESS,
    "test_pushpin_links.py::test_delivers_is_false_when_nothing_listens": INPROCESS,
    "test_pushpin_links.py::test_delivers_only_when_a_message_bigger_than_the_credit_window_arrives_whole": INPROCESS,  # noqa: E501
    "test_readme.py::test_the_marked_steps_are_the_newcomers_path": UNIT,
    "test_relay.py::test_public_api": UNIT,
    "test_relay.py::test_splice_to_a_tls_upstream_uses_the_stream_pump": E2E,
    "test_rules_layers.py::test_header_and_framing_rules_are_reached_through_rules_framing_only": UNIT,  # noqa: E501
    "test_starters.py::test_fanout_grip_sig_check": UNIT,
    "test_testing_fanout.py::test_pushpin_can_be_turned_off": INPROCESS,
    "test_testing_fanout.py::test_without_pushpin_the_error_says_how_to_install_it": INPROCESS,
    "test_testing_packaging.py::test_py_typed_and_license_are_shipped": UNIT,
    "test_testing_plugin.py::test_mock_backend_fixture_with_an_emulator": INPROCESS,
    "test_testing_plugin.py::test_the_plugin_is_registered_through_the_pytest11_entry_point": UNIT,
    "test_testing_websocket.py::test_a_refused_websocket_raises_with_the_status": INPROCESS,
    "test_traceback_width.py::test_serve_on_a_narrow_terminal_draws_the_traceback_to_fit": E2E,
    "test_viceroy_diffs.py::test_an_empty_query_is_an_empty_string": UNIT,
    "test_viceroy_diffs.py::test_the_process_fastly_variables_are_hidden_inside_a_layer": UNIT,
    "test_workers.py::test_a_body_stream_the_app_made_is_read_on_the_apps_worker_pool": INPROCESS,
}

# the deliberate soak and fuzz tests: a whole file, or file::function
SLOW = frozenset(
    {
        "test_aborts.py::test_a_thousand_of_each_abort_leave_nothing_behind",
        "test_fuzz_manifest.py",
        "test_fuzz_request_head.py",
        "test_relay.py::test_splice_leaves_no_fds_after_1000_relays",
        "test_relay_chunked.py::test_chunked_leaves_no_fds_after_1000_relays",
        "test_rules_http1_client.py::test_whatever_we_accept_h11_reads_the_same",
        "test_rules_http1_server.py::test_whatever_we_accept_h11_reads_the_same",
    }
)


def layer_of(file: str, function: str, fixtures: Iterable[str], sdk_host: object = None) -> str:
    """The layer of test ``function`` of ``file`` (a base name) that uses ``fixtures``, run
    for ``sdk_host`` where its module runs on both (the Wasm host serves from a process of
    the official SDK's venv: ``e2e``)."""
    layer = TESTS.get(f"{file}::{function}") or FILES.get(file, E2E)
    used = set(fixtures)
    if used & E2E_FIXTURES or sdk_host == "wit":
        return E2E
    if used & INPROCESS_FIXTURES and layer == UNIT:
        return INPROCESS
    return layer


def is_slow(file: str, function: str) -> bool:
    return file in SLOW or f"{file}::{function}" in SLOW


def longest_files_first(
    items: Sequence[T], layer: Callable[[T], str], slow: Callable[[T], bool]
) -> list[T]:
    """``items`` (tests, each file's together) reordered file by file: files with a soak or
    fuzz test, then files with end-to-end tests, in-process ones, and unit-only files last;
    among files of a kind, the one with more tests of that kind first. Two workers taking
    whole files in this order (xdist's ``--dist loadfile --no-loadscope-reorder``) end at
    about the same time: the short files fill the end. Within a file the order is kept."""
    kinds: dict[str, list[int]] = {}
    for item in items:
        kind = 0 if slow(item) else 1 + (len(LAYERS) - 1 - LAYERS.index(layer(item)))
        kinds.setdefault(_file_of(item), []).append(kind)
    rank = {file: (min(ks), -ks.count(min(ks))) for file, ks in kinds.items()}
    return sorted(items, key=lambda item: rank[_file_of(item)])


def _file_of(item: object) -> str:
    return str(getattr(item, "path", ""))


# -- the guard -------------------------------------------------------------------------------

PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.posix_spawn", "os.fork", "os.forkpty", "os.system", "os.exec"}
)
SOCKET_EVENTS = {"socket.bind": "binds", "socket.connect": "connects"}


class LayerViolation(Exception):
    """A test did what its layer does not allow."""


class Guard:
    """What the running test's layer allows; an audit hook (``sys.addaudithook(guard.audit)``)
    refuses the rest, in any thread, and keeps what it refused for the test's teardown."""

    def __init__(self) -> None:
        self.test: str | None = None
        self.layer = E2E  # between tests: anything goes
        self.refused: list[str] = []

    def enter(self, test: str, layer: str) -> None:
        self.test, self.layer, self.refused = test, layer, []

    def leave(self) -> list[str]:
        refused, self.test, self.layer, self.refused = self.refused, None, E2E, []
        return refused

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        layer = self.layer
        if layer == E2E:
            return
        if event in PROCESS_EVENTS:
            what = f"starts a process ({event} {str(args[0])[:80]!r})"
        elif layer == UNIT and event in SOCKET_EVENTS:
            sock = args[0]
            family = getattr(sock, "family", None)
            kind = "a Unix socket" if family == socket.AF_UNIX else "a socket"
            what = f"{SOCKET_EVENTS[event]} {kind} ({args[1]!r})"
        else:
            return
        message = (
            f"{self.test} is a {layer} test but {what}: give it its layer in "
            "tests/support/layers.py (FILES or TESTS)"
        )
        self.refused.append(message)
        raise LayerViolation(message)
