"""Failures reach Python as MLEditError with the binary's one-line message and exit code, usage
errors as UsageError (exit 64); a missing binary is named before anything runs."""
from __future__ import annotations

import pytest

import mledit
from mledit.errors import error_from_run
from conftest import MODEL, fact


def test_a_bad_facts_file_names_its_line(repo, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "{} works as a", "subject": "Tilea Gropaendic", "target_new": "baker"}\n'
                    '{"prompt": "{} was born in", "subject": "Kritroth Plosuk"}\n')
    with pytest.raises(mledit.MLEditError) as raised:
        repo.commit(path)
    error = raised.value
    assert not isinstance(error, mledit.UsageError)
    assert error.exit_code == 1
    assert error.message == f"{path}:2: missing field 'target_new'"
    assert error.command[0] == repo.runner.binary and "commit" in error.command
    assert repo.status().head is None


def test_a_subject_missing_from_its_prompt_is_reported_for_dicts_too(repo):
    with pytest.raises(mledit.MLEditError) as raised:
        repo.commit([{"prompt": "Someone works as a", "subject": "Nobody", "target_new": "baker"}])
    assert ":1:" in raised.value.message and "Nobody" in raised.value.message


def test_usage_errors_exit_64(repo):
    with pytest.raises(mledit.UsageError) as raised:
        repo.eval([fact(0)], limit=0)
    assert raised.value.exit_code == 64
    assert raised.value.message.startswith("--limit must be at least 1")
    with pytest.raises(mledit.UsageError):
        repo.run("commit", "--no-such-option")


def test_unknown_revisions_and_a_second_init_fail(repo, environment):
    with pytest.raises(mledit.MLEditError) as raised:
        repo.show("nonexistent")
    assert raised.value.exit_code == 1 and "unknown revision 'nonexistent'" in raised.value.message
    with pytest.raises(mledit.MLEditError):
        mledit.Repository.init(repo.path, model=MODEL, env=environment)
    with pytest.raises(mledit.MLEditError):
        repo.checkout("no-such-branch")


def test_the_binary_is_found_through_mledit_bin(tmp_path, binary):
    assert mledit.find_binary({"MLEDIT_BIN": binary}) == binary
    with pytest.raises(mledit.BinaryNotFoundError):
        mledit.find_binary({"MLEDIT_BIN": str(tmp_path / "missing")})
    with pytest.raises(mledit.BinaryNotFoundError):
        mledit.Repository(tmp_path, env={"MLEDIT_BIN": str(tmp_path)})


def test_the_message_is_the_last_error_line():
    error = error_from_run(["mledit", "x"], 1, "note: working\nError: it broke\n")
    assert type(error) is mledit.MLEditError and error.message == "it broke" and error.exit_code == 1
    usage = error_from_run(["mledit", "x"], 64, "Error: bad option. See 'mledit x --help'.\n")
    assert isinstance(usage, mledit.UsageError) and usage.message == "bad option. See 'mledit x --help'."
    assert error_from_run(["mledit"], 2, "").message == "mledit exited with status 2"
