"""The console API's one error: a status and a line saying why (sent as ``{"error": ...}``)."""

from __future__ import annotations


class ConsoleError(Exception):
    """A console request that cannot be carried out: its status and one line saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
