"""The binary's stderr lines reach a progress callback while it runs, and progress lines drive a
tqdm bar when no callback is given."""
from __future__ import annotations

import mledit
from mledit.progress import TqdmProgress
from conftest import fact


def test_parse_progress_lines():
    assert mledit.parse_progress_line("edit: 40% after 31 s") == mledit.ProgressLine("edit", 40, 31.0)
    assert mledit.parse_progress_line("statistics: 100% after 62 s\n").percent == 100
    assert mledit.parse_progress_line("computing preservation statistics for layers 0,1") is None
    assert mledit.parse_progress_line("Error: 3: missing field") is None


def test_stderr_lines_reach_the_callback(tmp_path, environment):
    fresh = dict(environment, MLEDIT_CACHE=str(tmp_path / "fresh-cache"))
    lines: list[str] = []
    repo = mledit.Repository.init(tmp_path / "repo", model=__import__("conftest").MODEL, env=fresh, progress=lines.append)
    repo.commit([fact(0)])
    assert any(line.startswith("computing preservation statistics") for line in lines), lines
    per_call: list[str] = []
    repo.eval([fact(0)], progress=per_call.append)
    assert any(line.startswith("evaluating 1 of 1 facts") for line in per_call), per_call
    assert not any(line.startswith("evaluating") for line in lines)


class FakeBar:
    made: list["FakeBar"] = []
    written: list[str] = []

    def __init__(self, total, desc, **_):
        self.total, self.desc, self.n, self.closed = total, desc, 0, False
        FakeBar.made.append(self)

    def update(self, step):
        self.n += step

    def close(self):
        self.closed = True

    @classmethod
    def write(cls, line, file=None):
        cls.written.append(line)


def test_progress_lines_drive_a_tqdm_bar():
    sink = TqdmProgress(FakeBar)
    for line in ["computing preservation statistics …", "edit: 40% after 31 s", "edit: 90% after 61 s", "Error: no"]:
        sink(line)
    sink.close()
    assert [(bar.desc, bar.n, bar.closed) for bar in FakeBar.made] == [("edit", 90, True)]
    assert FakeBar.written == ["computing preservation statistics …"]
