"""Pushpin, the GRIP proxy Fanout is built on: its configuration and its supervision."""
