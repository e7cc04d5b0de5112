"""The one room of compute-emu that speaks asyncio (and uvloop) directly, for speed.

The rest of compute-emu is written against anyio, the structured-concurrency API it chose, and
sees connections through one interface, :class:`~.stream.Stream`. Everything that must reach
under anyio lives here:

- :mod:`.transport`: the byte stream on an event loop's transport (every TCP connection);
  :mod:`.listener` accepts them, :mod:`.connect` opens them;
- :mod:`.takeover` and :mod:`.relay`: taking two transports over to relay bytes between them;
- :mod:`.workers`: the one pool of worker threads (``main()``, the app's hooks, blocking
  reads of the app's own body streams);
- :mod:`.loop`: the ways from those threads into the loop, and the loop's lightest event and
  timer;
- :mod:`.event_loop`: uvloop or asyncio's own loop.

``tests/test_one_async_world.py`` keeps it so: no other module imports asyncio (the few that
still do are listed there, with why), and every thread hop goes through :mod:`.workers`.
"""
