"""Finding the `mledit` executable and running it: arguments in, standard output and exit code
out, standard error streamed line by line to a progress callback while the process runs.

Lookup order: $MLEDIT_BIN, then the release build `.build/release/mledit` of the Swift package
this source tree sits in (found by walking up to `Package.swift`), then PATH. Nothing here knows
what a command means; `Repository` builds the arguments and parses the JSON.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import BinaryNotFoundError, error_from_run
from .progress import Progress, make_sink


def find_binary(environment: Mapping[str, str] | None = None) -> str:
    """The path of the `mledit` executable.

    Raises:
        BinaryNotFoundError: $MLEDIT_BIN names no executable file, or none was found.
    """
    environment = os.environ if environment is None else environment
    configured = environment.get("MLEDIT_BIN")
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise BinaryNotFoundError(f"MLEDIT_BIN={configured} is not an executable file")
    for folder in Path(__file__).resolve().parents:
        if (folder / "Package.swift").is_file():
            candidate = folder / ".build" / "release" / "mledit"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
            break
    found = shutil.which("mledit", path=environment.get("PATH"))
    if found:
        return found
    raise BinaryNotFoundError(
        "mledit not found: set MLEDIT_BIN, build it with 'swift build -c release', or put it on PATH")


@dataclass(frozen=True)
class RunResult:
    """A finished run: its arguments, exit code and both outputs."""

    command: list[str]
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """Standard output parsed as JSON."""
        return json.loads(self.stdout)


class Runner:
    """Runs one binary with a fixed environment.

    `environment` entries are added to (not substituted for) the current process's environment;
    a value of None removes the variable.
    """

    def __init__(self, binary: str | os.PathLike[str] | None = None,
                 environment: Mapping[str, str | None] | None = None,
                 progress: Progress = None) -> None:
        merged = dict(os.environ)
        for key, value in (environment or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = str(value)
        self.environment = merged
        self.binary = os.fspath(binary) if binary is not None else find_binary(merged)
        self.progress = progress

    def run(self, arguments: Sequence[str], *, progress: Progress = None,
            check: bool = True, cwd: str | os.PathLike[str] | None = None) -> RunResult:
        """Runs `mledit ARGUMENTS`, streaming stderr lines to `progress` (else the runner's).

        Raises:
            MLEditError: the exit code is not 0 and `check` is set (UsageError for 64).
        """
        command = [self.binary, *map(os.fspath, arguments)]
        sink, close = make_sink(progress if progress is not None else self.progress)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=self.environment, cwd=cwd,
                                   text=True, encoding="utf-8", errors="replace")
        lines: list[str] = []

        def drain() -> None:
            # Read stderr while stdout is read below, so neither pipe fills and blocks the process.
            assert process.stderr is not None
            for line in process.stderr:
                line = line.rstrip("\n")
                lines.append(line)
                if sink is not None:
                    try:
                        sink(line)
                    except Exception:  # a failing callback must not hang the pipe
                        pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            assert process.stdout is not None
            stdout = process.stdout.read()
            exit_code = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            reader.join()
            close()
        stderr = "\n".join(lines) + ("\n" if lines else "")
        if check and exit_code != 0:
            raise error_from_run(command, exit_code, stderr)
        return RunResult(command, exit_code, stdout, stderr)
