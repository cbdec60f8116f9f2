"""Fixtures for the tests of the mledit package: the real binary on the tiny-facts GPT-2 fixture
(4 layers, knows 300 invented facts), a statistics cache shared by the session, and facts from
the fixture's facts.json. The tests are hermetic apart from the corpus scripts/fetch-corpus makes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import mledit

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "Tests" / "Fixtures" / "tiny-facts-gpt2"
#: The cache folder of the calling environment (the corpus and transformers' venv live there);
#: the binary itself gets a temporary one.
USER_CACHE = Path(os.environ.get("MLEDIT_CACHE") or Path.home() / ".cache" / "mledit")


@pytest.fixture(scope="session")
def binary() -> str:
    return mledit.find_binary()


@pytest.fixture(scope="session")
def environment(tmp_path_factory, binary) -> dict[str, str]:
    corpus = USER_CACHE / "enwiki-sample.txt"
    if not corpus.is_file():
        pytest.fail(f"{corpus} is missing: run scripts/fetch-corpus first (make test does)")
    return {"MLEDIT_CACHE": str(tmp_path_factory.mktemp("cache")), "MLEDIT_CORPUS": str(corpus),
            "MLEDIT_AUTHOR": "tests", "OPENBLAS_NUM_THREADS": "1", "MLEDIT_DIR": None, "MLEDIT_BIN": binary}


@pytest.fixture
def repo(tmp_path, environment) -> mledit.Repository:
    return mledit.Repository.init(tmp_path / "repo", model=MODEL, env=environment, progress=False)


def records() -> list[dict]:
    return json.loads((MODEL / "facts.json").read_text())


def fact(index: int, *, full: bool = False) -> mledit.Fact:
    """Record `index` of facts.json as a Fact (with paraphrases and neighbours when `full`)."""
    record = records()[index]
    rewrite = record["requested_rewrite"]
    made = mledit.Fact(subject=rewrite["subject"], prompt=rewrite["prompt"], target_new=rewrite["target_new"]["str"],
                       target_true=rewrite["target_true"]["str"])
    if full:
        made.paraphrases = list(record["paraphrase_prompts"])
        made.neighborhood = list(record["neighborhood_prompts"])
        made.neighborhood_answers = list(record["neighborhood_answers"])
    return made


def answer(repo: mledit.Repository, index: int, at: str = "HEAD") -> str:
    """The greedy 3-token continuation of fact `index`'s prompt at `at`."""
    return repo.generate(fact(index).text, at=at, max_tokens=3).text
