"""Fastly Wasm components: ``compute-emu build`` and ``compute-emu serve --wasm``.

``build`` stages the app (its entry and the modules next to it; for a ``compute_emu.sdk`` app a
copy of the SDK and a generated export that runs ``main()`` per request) and builds it with
Fastly's own toolchain into ``bin/main.wasm`` and ``pkg/<name>.tar.gz``. ``serve --wasm`` runs
that component under wasmtime, its ``fastly:compute`` imports served by ``compute_emu/official/``
through a generic value bridge, on the same runtime as every other way of running an app.
"""
