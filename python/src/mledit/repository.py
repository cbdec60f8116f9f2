"""`Repository`: one mledit repository driven through the binary's `--json` output.

Every method is one run of `mledit --repo DIR <command>` (two for commands without `--json`,
which are followed by `status --json` or a listing). Facts given as dicts or dataclasses go to a
temporary JSONL file, hyperparameters given as a dict to a temporary JSON file. This class holds
no state of the repository itself: the ledger is the only truth, read anew on every call.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Union

from ._process import Runner
from .errors import error_from_run
from .progress import Progress
from .results import (Branch, Commit, CommitResult, DiffResult, EvalResult, ExportResult, Fact, FsckResult,
                      Generation, RebaseResult, RevertResult, Status, Tag)

PathLike = Union[str, "os.PathLike[str]"]
#: A facts argument: a path to a facts file, one fact, or an iterable of facts (dicts or dataclasses).
FactsInput = Union[PathLike, Mapping[str, Any], Fact, Iterable[Any]]


def _fact_object(fact: Any) -> dict[str, Any]:
    if isinstance(fact, Fact):
        return fact.to_json()
    if dataclasses.is_dataclass(fact) and not isinstance(fact, type):
        return {key: value for key, value in dataclasses.asdict(fact).items() if value is not None}
    if isinstance(fact, Mapping):
        return dict(fact)
    raise TypeError(f"a fact must be a dict or a dataclass, not {type(fact).__name__}")


@contextmanager
def facts_file(facts: FactsInput) -> Iterator[str]:
    """A path to `facts`: the path itself, or a temporary JSONL file removed afterwards."""
    if isinstance(facts, (str, os.PathLike)):
        yield os.path.abspath(os.fspath(facts))
        return
    if isinstance(facts, Mapping) or isinstance(facts, Fact) or (dataclasses.is_dataclass(facts) and not isinstance(facts, type)):
        facts = [facts]
    lines = [json.dumps(_fact_object(fact), ensure_ascii=False) for fact in facts]
    if not lines:
        raise ValueError("no facts given")
    with _temporary_file(".jsonl", "\n".join(lines) + "\n") as path:
        yield path


@contextmanager
def _hparams_file(hparams: Mapping[str, Any] | PathLike | None) -> Iterator[str | None]:
    if hparams is None:
        yield None
    elif isinstance(hparams, (str, os.PathLike)):
        yield os.path.abspath(os.fspath(hparams))
    else:
        with _temporary_file(".json", json.dumps(dict(hparams))) as path:
            yield path


@contextmanager
def _temporary_file(suffix: str, text: str) -> Iterator[str]:
    handle, path = tempfile.mkstemp(prefix="mledit-", suffix=suffix)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        yield path
    finally:
        os.unlink(path)


def _options(**values: Any) -> list[str]:
    """`--name value` for every value that is not None; True gives a bare flag, False nothing."""
    out: list[str] = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            out += [flag, ",".join(map(str, value))]
        else:
            out += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return out


class Repository:
    """An mledit repository at `path` (the folder holding `.mledit`, or any folder below it).

    Args:
        path: the repository's folder.
        binary: the `mledit` executable (default: $MLEDIT_BIN, the checkout's release build, PATH).
        env: variables added to the environment of every run (None removes one), for example
            MLEDIT_CACHE, MLEDIT_CORPUS or MLEDIT_AUTHOR.
        progress: default for every command's `progress`: a callback receiving each stderr line,
            None for tqdm when installed, False for silence.
    """

    def __init__(self, path: PathLike = ".", *, binary: PathLike | None = None,
                 env: Mapping[str, str | None] | None = None, progress: Progress = None) -> None:
        self.path = Path(path).resolve()
        self.runner = Runner(binary, env, progress)

    def __repr__(self) -> str:
        return f"Repository({str(self.path)!r})"

    @classmethod
    def init(cls, path: PathLike, model: PathLike, *, branch: str | None = None,
             binary: PathLike | None = None, env: Mapping[str, str | None] | None = None,
             progress: Progress = None) -> "Repository":
        """Creates a repository in `path` (made if missing) for the base model `model`.

        Raises:
            MLEditError: the folder already holds a repository, or the model cannot be read.
        """
        runner = Runner(binary, env, progress)
        folder = Path(path).resolve()
        runner.run(["init", "--model", os.path.abspath(os.fspath(model)), "--dir", str(folder), *_options(branch=branch)])
        return cls(folder, binary=runner.binary, env=env, progress=progress)

    # MARK: running

    def run(self, *arguments: Any, progress: Progress = None, check: bool = True):
        """Runs `mledit --repo PATH ARGUMENTS` and returns its `RunResult` (for commands this
        class does not wrap)."""
        return self.runner.run(["--repo", str(self.path), *map(str, arguments)], progress=progress, check=check)

    def _json(self, command: str, *arguments: Any, progress: Progress = None) -> Any:
        # --json right after the command, so that it never follows a "--".
        return self.run(command, "--json", *arguments, progress=progress).json()

    # MARK: history

    def status(self) -> Status:
        """Where HEAD is, how many commits and facts are in force, whether the base file is intact."""
        return Status.from_json(self._json("status"))

    def log(self, rev: str | None = None, *, max_count: int | None = None) -> list[Commit]:
        """The lineage of `rev` (default HEAD), newest first; empty on a branch without commits."""
        return [Commit.from_json(item) for item in self._json("log", *([rev] if rev else []), *_options(max_count=max_count))]

    def show(self, rev: str = "HEAD") -> Commit:
        """One commit with its facts, hyperparameters, context prefixes and deltas."""
        return Commit.from_json(self._json("show", rev))

    def resolve(self, rev: str) -> str:
        """The full commit id `rev` names."""
        return self.show(rev).id

    def commit(self, facts: FactsInput, *, method: str | None = None, message: str | None = None,
               hparams: Mapping[str, Any] | PathLike | None = None, layers: Iterable[int] | None = None,
               author: str | None = None, corpus: PathLike | None = None, health: bool = True,
               wait: float | None = None, progress: Progress = None) -> CommitResult:
        """Solves an edit of HEAD for `facts` and records it as a new commit.

        `facts` is a facts file, a dict or dataclass, or an iterable of them (written as JSONL);
        `hparams` a dict or a JSON file overriding hyperparameters; `method` rome, memit, emmet or
        alphaedit.

        Raises:
            MLEditError: the facts or hyperparameters are invalid, or the edit fails.
        """
        with facts_file(facts) as path, _hparams_file(hparams) as hparams_path:
            arguments = [path, *_options(method=method, message=message, hparams=hparams_path,
                                         layers=list(layers) if layers is not None else None, author=author,
                                         corpus=corpus, no_health=not health, wait=wait)]
            return CommitResult.from_json(self._json("commit", *arguments, progress=progress))

    def checkout(self, rev: str | None = None, *, create: bool = False, start: str | None = None) -> Status:
        """Moves HEAD: a branch name attaches it, any other revision detaches it. With
        `create=True`, `rev` is the name of a new branch made at `start` (default HEAD)."""
        if create:
            if rev is None:
                raise ValueError("checkout(create=True) needs the new branch's name")
            self.run("checkout", "-b", rev, *([start] if start else []))
        else:
            if rev is None:
                raise ValueError("checkout needs a revision or a branch name")
            self.run("checkout", rev)
        return self.status()

    def branch(self, name: str | None = None, rev: str | None = None, *, delete: str | None = None) -> list[Branch]:
        """Creates branch `name` at `rev` (default HEAD) or deletes `delete`; returns the branches."""
        if delete is not None:
            self.run("branch", "--delete", delete)
        elif name is not None:
            self.run("branch", name, *([rev] if rev else []))
        return [Branch(item["name"], item["commit"], item.get("current", False)) for item in self._json("branch")]

    def tag(self, name: str | None = None, rev: str | None = None, *, delete: str | None = None) -> list[Tag]:
        """Creates tag `name` at `rev` (default HEAD) or deletes `delete`; returns the tags."""
        if delete is not None:
            self.run("tag", "--delete", delete)
        elif name is not None:
            self.run("tag", name, *([rev] if rev else []))
        return [Tag(item["name"], item["commit"]) for item in self._json("tag")]

    def revert(self, rev: str, *, message: str | None = None, author: str | None = None,
               corpus: PathLike | None = None, wait: float | None = None, progress: Progress = None) -> RevertResult:
        """A new commit that takes `rev`'s edit out and re-solves the commits after it."""
        return RevertResult.from_json(self._json("revert", rev, *_options(message=message, author=author, corpus=corpus, wait=wait),
                                                 progress=progress))

    def rebase(self, upstream: str | None = None, *, onto_model: PathLike | None = None,
               corpus: PathLike | None = None, wait: float | None = None, progress: Progress = None) -> RebaseResult:
        """Replays the branch onto commit `upstream`, or the whole lineage onto the checkpoint `onto_model`."""
        if (upstream is None) == (onto_model is None):
            raise ValueError("rebase needs exactly one of upstream and onto_model")
        model = os.path.abspath(os.fspath(onto_model)) if onto_model is not None else None
        return RebaseResult.from_json(self._json("rebase", *([upstream] if upstream else []),
                                                 *_options(onto_model=model, corpus=corpus, wait=wait), progress=progress))

    def diff(self, a: str, b: str, *, behaviour: bool = False, tokens: int | None = None,
             progress: Progress = None) -> DiffResult:
        """Facts added, removed and superseded from `a` to `b`, and the tensors' differences."""
        return DiffResult.from_json(self._json("diff", a, b, *_options(behaviour=behaviour, tokens=tokens), progress=progress))

    # MARK: running the model

    def eval(self, facts: FactsInput, *, at: str | None = None, limit: int | None = None,
             model: PathLike | None = None, progress: Progress = None) -> EvalResult:
        """CounterFact metrics of version `at` (default HEAD) on `facts`, stored in the ledger."""
        model_path = os.path.abspath(os.fspath(model)) if model is not None else None
        with facts_file(facts) as path:
            return EvalResult.from_json(self._json("eval", path, *_options(at=at, limit=limit, model=model_path), progress=progress))

    def export(self, path: PathLike, *, format: str | None = None, at: str | None = None,
               dtype: str | None = None, requantize: str | None = None, force: bool = False,
               progress: Progress = None) -> ExportResult:
        """Writes version `at` as a GGUF file, a Hugging Face folder (`format="safetensors"`) or
        a PEFT LoRA adapter (`format="lora"`) at `path`."""
        output = os.path.abspath(os.fspath(path))
        return ExportResult.from_json(self._json("export", "--output", output,
                                                 *_options(format=format, at=at, dtype=dtype, requantize=requantize, force=force),
                                                 progress=progress))

    def generate(self, prompt: str, *, at: str | None = None, max_tokens: int | None = None,
                 temperature: float | None = None, top_k: int | None = None, seed: int | None = None,
                 logprobs: int | None = None) -> Generation:
        """The continuation of `prompt` by version `at` (default HEAD; greedy unless `temperature`)."""
        return Generation.from_json(self._json("generate", *_options(at=at, max_tokens=max_tokens, temperature=temperature,
                                                                     top_k=top_k, seed=seed, logprobs=logprobs), "--", prompt))

    def fsck(self) -> FsckResult:
        """Checks the ledger's integrity. Problems are returned (`ok` False), not raised."""
        result = self.run("fsck", "--json", check=False)
        if result.stdout.strip():
            return FsckResult.from_json(result.json())
        raise error_from_run(result.command, result.exit_code, result.stderr)
