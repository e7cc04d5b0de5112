"""compute-emu: run Python Fastly Compute apps locally, like `fastly compute serve`."""

__version__ = "0.1.0"
