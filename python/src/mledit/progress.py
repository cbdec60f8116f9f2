"""Forwarding the binary's standard error while it runs: every line to a callback, or, when no
callback is given and tqdm is installed, progress lines to a tqdm bar and notes to `tqdm.write`.

On a pipe the binary prints a progress line such as "edit: 40% after 31 s" every 30 seconds and
notes such as "computing preservation statistics …"; this module only parses that shape. It does
not make progress finer than the binary reports it.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Callable, Union

#: A callback receiving each line of standard error (without its newline).
ProgressCallback = Callable[[str], None]
#: What a command accepts as `progress`: a callback, True/None for tqdm when installed, False for nothing.
Progress = Union[ProgressCallback, bool, None]

_PROGRESS_LINE = re.compile(r"^(?P<label>[\w .-]+): (?P<percent>\d{1,3})% after (?P<seconds>\d+(?:\.\d+)?) s$")


@dataclass(frozen=True)
class ProgressLine:
    """A parsed "label: P% after S s" line."""

    label: str
    percent: int
    seconds: float


def parse_progress_line(line: str) -> ProgressLine | None:
    """The progress figures in `line`, or None when it is a note or an error."""
    match = _PROGRESS_LINE.match(line.strip())
    if match is None:
        return None
    return ProgressLine(match["label"], min(100, int(match["percent"])), float(match["seconds"]))


class TqdmProgress:
    """Shows progress lines as tqdm bars (one per label) and other lines with `tqdm.write`."""

    def __init__(self, tqdm_class) -> None:
        self._tqdm = tqdm_class
        self._bars: dict[str, object] = {}

    def __call__(self, line: str) -> None:
        parsed = parse_progress_line(line)
        if parsed is None:
            if not line.startswith("Error: "):  # errors reach the caller as MLEditError
                self._tqdm.write(line, file=sys.stderr)
            return
        bar = self._bars.get(parsed.label)
        if bar is None:
            bar = self._tqdm(total=100, desc=parsed.label, unit="%", leave=False, file=sys.stderr)
            self._bars[parsed.label] = bar
        bar.update(parsed.percent - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def make_sink(progress: Progress) -> tuple[ProgressCallback | None, Callable[[], None]]:
    """The line callback for `progress` and the function that ends it after the run."""
    if progress is False:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None, lambda: None
    sink = TqdmProgress(tqdm)
    return sink, sink.close
