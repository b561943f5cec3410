"""Errors the CLI reports as one line and an exit code, never as a traceback."""

from __future__ import annotations

from blog_infra.exit_codes import ExitCode


class CliError(Exception):
    """A failure explained to the user in one line."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


class BadInput(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.BAD_INPUT)


class Unavailable(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.UNAVAILABLE)
