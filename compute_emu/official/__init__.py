"""Serving apps written for Fastly's official Python SDK (``fastly-compute``) natively.

``compute-emu serve`` finds an official-SDK project (:mod:`.detect`), puts a ``wit_world``
module tree built from the SDK wheel's own stubs into this process (:mod:`.world`, the
loader), with compute-emu's implementation of each WIT function (registered by name in
:mod:`.registry`) on top of the same host and ``compute_emu.sdk`` paths that
``compute_emu.sdk`` apps use (:mod:`.messages`, :mod:`.http`, :mod:`.backends`,
:mod:`.stores`, :mod:`.services`), and runs ``HttpIncoming().handle()``
per request (:mod:`.serving`). Nothing here imports ``fastly_compute`` at module level, so
compute-emu type-checks and runs on Python 3.11 without the SDK.
"""
