"""Errors the user can cause. The CLI renders them once, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: bad input, a taken port, a missing file.

    ``str(err)`` is the whole message, naming the thing at fault.
    """


class ManifestError(UserError):
    """fastly.toml is unreadable or invalid.

    ``path`` is the file, ``key`` the dotted key path at fault (``""`` for the file itself),
    ``line``/``column`` are 1-based where known.
    """

    def __init__(
        self,
        path: str,
        key: str,
        problem: str,
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.line = line
        self.column = column
        where = path
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        message = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
        super().__init__(message)


class AppLoadError(UserError):
    """The app's entry file cannot be loaded (missing, syntax error, import error, no main)."""


def user_error_in(exc: BaseException) -> UserError | None:
    """The UserError an exception (group) stands for, else None.

    Task groups wrap what their tasks raise in exception groups, possibly nested; a group
    whose every leaf is a UserError is rendered like that UserError (the first one).
    """
    if isinstance(exc, UserError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        leaves = [user_error_in(inner) for inner in exc.exceptions]
        if leaves and all(leaf is not None for leaf in leaves):
            return leaves[0]
    return None
