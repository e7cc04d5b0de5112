"""Fastly's cache APIs (mirrors ``fastly::cache``): ``core`` and ``simple``.

Both use the server's one in-memory cache, which the readthrough HTTP cache of
``Request.send()`` also uses; ``compute_emu.sdk.purge`` and ``compute-emu purge`` purge them
all by surrogate key.
"""

from . import core as core
from . import simple as simple

__all__ = ["core", "simple"]
