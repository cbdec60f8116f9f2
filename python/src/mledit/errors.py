"""The exceptions of the mledit package: a failed run of the binary, a usage error, a missing binary.

The binary reports every failure as one line `Error: …` on standard error and exits 1, or 64 for
a usage error; these classes carry that line and the exit code. They do not interpret the message.
"""
from __future__ import annotations

from typing import Sequence


class MLEditError(Exception):
    """A run of `mledit` that failed.

    Attributes:
        message: the binary's one-line error, without the "Error: " prefix (for a usage error it
            still ends with the pointer to `--help`).
        exit_code: the process's exit status (1 for failures, 64 for usage errors), or None when
            the binary never ran.
        command: the argument list that was run, the binary first.
        stderr: everything the process wrote to standard error.
    """

    def __init__(self, message: str, exit_code: int | None = None,
                 command: Sequence[str] = (), stderr: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.command = list(command)
        self.stderr = stderr

    def __str__(self) -> str:
        if self.exit_code is None:
            return self.message
        return f"{self.message} (exit {self.exit_code})"


class UsageError(MLEditError):
    """The binary rejected its arguments (exit code 64)."""


class BinaryNotFoundError(MLEditError):
    """No `mledit` executable was found (MLEDIT_BIN, the checkout's release build, PATH)."""


def error_from_run(command: Sequence[str], exit_code: int, stderr: str) -> MLEditError:
    """The exception for a run that exited with `exit_code`: the last `Error: ` line of stderr
    is the message; without one, the last non-empty line."""
    lines = [line.rstrip("\r") for line in stderr.splitlines()]
    message = next((line[len("Error: "):] for line in reversed(lines) if line.startswith("Error: ")), None)
    if message is None:
        message = next((line for line in reversed(lines) if line.strip()), f"mledit exited with status {exit_code}")
    kind = UsageError if exit_code == 64 else MLEditError
    return kind(message, exit_code=exit_code, command=command, stderr=stderr)
