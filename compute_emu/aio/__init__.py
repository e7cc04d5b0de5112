"""The one room of compute-emu that speaks asyncio (and uvloop) directly, for speed.

The rest of compute-emu is written against anyio, the structured-concurrency API it chose.
Everything that must reach under anyio lives here: the byte stream on an event loop's
transport (:mod:`.transport`) and taking it over for a relay (:mod:`.takeover`,
:mod:`.relay`), the worker threads (:mod:`.workers`) and which loop to run on
(:mod:`.event_loop`).
"""
