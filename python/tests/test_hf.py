"""mledit.hf.load: a version as a transformers model, exported once into
$MLEDIT_CACHE/hf-exports/<commit id>. transformers lives in its own venv (scripts/setup-transformers),
so the check runs there, importing this package from its source folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import USER_CACHE, fact

SOURCE = Path(__file__).resolve().parents[1] / "src"

CHECK = r"""
import json, os, sys
import torch
from mledit import Repository, hf
repo = Repository(sys.argv[1])
prompt = sys.argv[2]
model = hf.load(repo)
tokenizer = hf.load_tokenizer(repo)
ids = tokenizer(prompt, return_tensors="pt").input_ids
with torch.no_grad():
    greedy = model.generate(ids, max_new_tokens=2, do_sample=False)[0, ids.shape[1]:].tolist()
print(json.dumps({"ids": greedy, "folder": str(hf.export_folder(repo)), "class": type(model).__name__}))
"""


def transformers_python() -> str | None:
    candidates = [os.environ.get("MLEDIT_HF_PYTHON"), str(USER_CACHE / "hf-venv" / "bin" / "python"), sys.executable]
    for candidate in candidates:
        if candidate and shutil.which(candidate) and subprocess.run(
                [candidate, "-c", "import transformers, torch"], capture_output=True).returncode == 0:
            return candidate
    return None


def test_load_runs_the_edited_version(repo):
    python = transformers_python()
    if python is None:
        pytest.skip("transformers is not installed (scripts/setup-transformers makes its venv)")
    commit = repo.commit([fact(0)])
    expected = repo.generate(fact(0).text, max_tokens=2).ids
    environment = dict(repo.runner.environment, PYTHONPATH=str(SOURCE))
    run = subprocess.run([python, "-c", CHECK, str(repo.path), fact(0).text], capture_output=True, text=True,
                         env=environment, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["ids"] == expected and result["class"] == "GPT2LMHeadModel"
    folder = Path(result["folder"])
    assert folder == Path(repo.runner.environment["MLEDIT_CACHE"]) / "hf-exports" / commit.id
    assert (folder / "model.safetensors").is_file()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns

    from mledit import hf
    assert hf.export_folder(repo, commit.id[:12]) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp, "a cached export was written again"
