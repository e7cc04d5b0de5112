"""The console: a page on the serve port (``/.compute-emu/console/``) to see and drive a
running app: its requests live, the connections Fanout holds by channel (and a publish
form), its stores, its cache. See docs/console.md for the page and its JSON API.
"""

from .console import Console

__all__ = ["Console"]
