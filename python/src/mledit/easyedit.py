"""EasyEdit's call shape on an mledit repository: `Editor(repo).edit(prompts, target_new, subject, …)`
returns `(metrics, model, weights)` as EasyEdit's `BaseEditor.edit` does, with one metrics dict per
fact under EasyEdit's keys (`pre` and `post`, each with `rewrite_acc`, `rephrase_acc`, `locality`,
`portability`; `case_id`, `requested_rewrite`, `time`).

Each call is recorded in the ledger: one commit for all facts, or one per fact with
`sequential_edit=True`. The metrics come from `mledit eval --json` at the version before and
after, so they are mledit's measures put under EasyEdit's names, not EasyEdit's computation:

- `rewrite_acc`: 1.0 when target_new is the greedy continuation of the prompt (every token).
- `rephrase_acc`: the same on each rephrase prompt that contains the subject; for one that does
  not, the CounterFact paraphrase score (p(new) > p(true)), which needs `ground_truth`.
- `locality[KEY + "_acc"]`: the share of the KEY prompts whose answer stays more probable than
  target_new (CounterFact neighbourhood score); it needs `ground_truth`, else it is None.

There is no model object in memory: `model` is a `Version` (the repository and the new commit),
`weights` the `Version` before the edit (None when the branch had no commit yet).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

from .repository import Repository
from .results import EvalResult, Generation


@dataclass(frozen=True)
class Version:
    """A version of a repository's model: run it, export it or load it in transformers."""

    repository: Repository
    commit: str

    def generate(self, prompt: str, **options: Any) -> Generation:
        return self.repository.generate(prompt, at=self.commit, **options)

    def export(self, path: Union[str, "os.PathLike[str]"], **options: Any):
        return self.repository.export(path, at=self.commit, **options)

    def load_hf(self, **options: Any):
        """The version as a transformers model (see `mledit.hf.load`)."""
        from . import hf
        return hf.load(self.repository, self.commit, **options)


def _listed(value: Union[str, Sequence[str], None], count: int, name: str) -> list:
    if value is None:
        return [None] * count
    if isinstance(value, str):
        value = [value]
    value = list(value)
    if len(value) != count:
        raise ValueError(f"{name} has {len(value)} entries for {count} prompts")
    return value


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class Editor:
    """Edits a repository with EasyEdit's `edit` signature.

    Args:
        repo_or_path: a `Repository`, or the path of one.
        method: rome, memit, emmet or alphaedit.
        hparams: hyperparameter overrides (dict or JSON file) for every commit.
    """

    def __init__(self, repo_or_path: Union[Repository, str, "os.PathLike[str]"], method: str = "memit",
                 hparams: Union[Mapping[str, Any], str, "os.PathLike[str]", None] = None, **repository_options: Any) -> None:
        self.repository = repo_or_path if isinstance(repo_or_path, Repository) else Repository(repo_or_path, **repository_options)
        self.method = method
        self.hparams = hparams

    def edit(self, prompts: Union[str, Sequence[str]], target_new: Union[str, Sequence[str]],
             subject: Union[str, Sequence[str]], ground_truth: Union[str, Sequence[str], None] = None,
             rephrase_prompts: Union[str, Sequence[Any], None] = None,
             locality_inputs: Optional[Mapping[str, Mapping[str, Any]]] = None,
             portability_inputs: Optional[Mapping[str, Any]] = None, sequential_edit: bool = False,
             keep_original_weight: bool = False, verbose: bool = False, message: Optional[str] = None,
             **kwargs: Any) -> tuple[list[dict], Optional[Version], Optional[Version]]:
        """Commits the edits and measures them before and after.

        `prompts` have the subject written out; `locality_inputs` is EasyEdit's
        `{KEY: {"prompt": [...], "ground_truth": [...]}}` with one entry per prompt (a string or a
        list). With `keep_original_weight`, the commits are made on a detached HEAD and HEAD then
        goes back where it was, so the branch does not move (the commits stay in the ledger and
        in the metrics' "commit"). `portability_inputs` are not measured (empty dicts).

        Raises:
            MLEditError: a commit or an evaluation failed.
            ValueError: the lists have different lengths.
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        prompts = list(prompts)
        count = len(prompts)
        targets = _listed(target_new, count, "target_new")
        subjects = _listed(subject, count, "subject")
        truths = _listed(ground_truth, count, "ground_truth")
        rephrases = _listed(rephrase_prompts, count, "rephrase_prompts")
        locality = {key: (_listed(entry.get("prompt"), count, f"locality_inputs[{key}].prompt"),
                          _listed(entry.get("ground_truth"), count, f"locality_inputs[{key}].ground_truth"))
                    for key, entry in (locality_inputs or {}).items()}

        requests = []
        for index in range(count):
            request: dict[str, Any] = {"prompt": prompts[index], "subject": subjects[index], "target_new": targets[index],
                                       "ground_truth": truths[index], "rephrase_prompt": rephrases[index],
                                       "locality": {key: {"prompt": prompt_lists[index], "ground_truth": answer_lists[index]}
                                                    for key, (prompt_lists, answer_lists) in locality.items()},
                                       "portability": {}}
            requests.append(request)

        repository = self.repository
        status = repository.status()
        start = status.head
        restore = status.branch if status.branch is not None else start
        rows, roles = _evaluation_rows(requests)
        pre = _measure(repository, rows, roles, len(requests), at=start)

        if keep_original_weight:
            if start is None:
                raise ValueError("keep_original_weight needs HEAD at a commit to come back to; the branch has none yet")
            repository.checkout(start)
        commits: list[tuple[list[int], str, float]] = []
        try:
            groups = [[index] for index in range(count)] if sequential_edit else [list(range(count))]
            for group in groups:
                began = time.monotonic()
                facts = [_commit_fact(requests[index]) for index in group]
                result = repository.commit(facts, method=self.method, hparams=self.hparams, message=message)
                commits.append((group, result.id, time.monotonic() - began))
        finally:
            if keep_original_weight and restore is not None:
                repository.checkout(restore)
        final = commits[-1][1]
        post = _measure(repository, rows, roles, len(requests), at=final)

        metrics = []
        for group, commit, seconds in commits:
            for index in group:
                metrics.append({"case_id": index, "requested_rewrite": requests[index], "time": seconds,
                                "commit": commit, "pre": pre[index], "post": post[index]})
                if verbose:
                    print(f"{index} editing: {requests[index]['prompt']} -> {requests[index]['target_new']}  {metrics[-1]}")
        metrics.sort(key=lambda entry: entry["case_id"])
        before = Version(repository, start) if start is not None else None
        return metrics, Version(repository, final), before


def _commit_fact(request: Mapping[str, Any]) -> dict[str, Any]:
    fact: dict[str, Any] = {"prompt": request["prompt"], "subject": request["subject"], "target_new": request["target_new"]}
    if request["ground_truth"] is not None:
        fact["target_true"] = request["ground_truth"]
    paraphrases = _strings(request["rephrase_prompt"])
    if paraphrases:
        fact["paraphrases"] = paraphrases
    return fact


def _evaluation_rows(requests: Sequence[Mapping[str, Any]]) -> tuple[list[dict], list[tuple[int, str, Optional[str]]]]:
    """The eval file's rows and, per row, (request index, role, locality key): the rewrite row
    (with the paraphrases the subject does not appear in), one row per rephrase prompt with the
    subject, one row per locality key with its prompts as the neighbourhood."""
    rows: list[dict] = []
    roles: list[tuple[int, str, Optional[str]]] = []
    for index, request in enumerate(requests):
        base = {"prompt": request["prompt"], "subject": request["subject"], "target_new": request["target_new"]}
        if request["ground_truth"] is not None:
            base["target_true"] = request["ground_truth"]
        rephrases = _strings(request["rephrase_prompt"])
        without_subject = [text for text in rephrases if request["subject"] not in text]
        rows.append(dict(base, paraphrases=without_subject) if without_subject else dict(base))
        roles.append((index, "rewrite", None))
        for text in rephrases:
            if request["subject"] in text:
                rows.append(dict(base, prompt=text))
                roles.append((index, "rephrase", None))
        for key, entry in request["locality"].items():
            prompts, answers = _strings(entry["prompt"]), _strings(entry["ground_truth"])
            if not prompts:
                continue
            row = dict(base, neighborhood=prompts)
            if len(answers) == len(prompts):
                row["neighborhood_answers"] = answers
            rows.append(row)
            roles.append((index, "locality", key))
    return rows, roles


def _measure(repository: Repository, rows: list[dict], roles: list[tuple[int, str, Optional[str]]],
             count: int, at: Optional[str]) -> list[dict]:
    """EasyEdit-keyed metrics per request at version `at` (None: the base model of an empty branch)."""
    report: EvalResult = repository.eval(rows, at=at)
    by_line = {fact.line: fact for fact in report.facts}
    out = [{"rewrite_acc": [], "rephrase_acc": [], "locality": {}, "portability": {}} for _ in range(count)]
    for line, (index, role, key) in enumerate(roles, start=1):
        fact = by_line[line]
        if role == "rewrite":
            out[index]["rewrite_acc"].append(1.0 if fact.top1 else 0.0)
            if fact.raw.get("paraphrase") is not None and len(rows[line - 1].get("paraphrases", [])) > 0:
                out[index]["rephrase_acc"].append(float(fact.paraphrase))
        elif role == "rephrase":
            out[index]["rephrase_acc"].append(1.0 if fact.top1 else 0.0)
        else:
            out[index]["locality"][f"{key}_acc"] = [float(fact.neighborhood)] if fact.neighborhood is not None else None
    for entry in out:
        if not entry["rephrase_acc"]:
            del entry["rephrase_acc"]
    return out
