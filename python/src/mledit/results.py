"""Typed results of mledit commands, built from the binary's `--json` output.

Each dataclass names the fields the binary prints and keeps the whole object in `raw`, so fields a
later binary adds are not lost. `Fact` doubles as input: `Repository.commit` and `eval` write it
as a JSONL line. No class here runs anything.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


def _build(cls, obj: Mapping[str, Any], **converted: Any):
    """`cls` from the JSON object `obj`: fields named like keys are copied, `converted` wins,
    and `raw` keeps the object."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {key: value for key, value in obj.items() if key in names}
    values.update(converted)
    if "raw" in names:
        values["raw"] = dict(obj)
    return cls(**values)


@dataclass
class Fact:
    """One fact: `prompt` is a template with `{}` for the subject, or has the subject written out."""

    subject: str
    prompt: str
    target_new: str
    target_true: Optional[str] = None
    paraphrases: list[str] = field(default_factory=list)
    neighborhood: list[str] = field(default_factory=list)
    neighborhood_answers: list[str] = field(default_factory=list)
    #: Position in its commit (set when read from the ledger).
    ordinal: Optional[int] = None
    #: {"commit", "ordinal"} of the fact this one replaces (set when read from the ledger).
    supersedes: Optional[dict] = None
    #: The commit the fact belongs to (set by `diff`).
    commit: Optional[str] = None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Fact":
        return _build(cls, obj)

    def to_json(self) -> dict[str, Any]:
        """The JSONL form `mledit commit` reads (ledger-only fields and empty lists left out)."""
        out: dict[str, Any] = {"prompt": self.prompt, "subject": self.subject, "target_new": self.target_new}
        if self.target_true is not None:
            out["target_true"] = self.target_true
        for key in ("paraphrases", "neighborhood", "neighborhood_answers"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        return out

    @property
    def text(self) -> str:
        """The prompt with the subject filled in."""
        return self.prompt.replace("{}", self.subject, 1) if "{}" in self.prompt else self.prompt


@dataclass
class Delta:
    """One stored low-rank delta of a commit (`show`)."""

    tensor: str
    layer: int
    shape: list[int]
    rank: int
    dtype: str
    norm: float
    stored_bytes: int
    sha256: str


@dataclass
class Commit:
    """A commit as `log --json` and `show --json` print it; the fields after `base_model_sha256`
    are filled by `show` only."""

    id: str
    parent: Optional[str]
    author: str
    date: str
    message: str
    kind: str
    method: str
    #: Number of facts the commit adds.
    facts: int
    tensors: list[str]
    total_rank: int
    stored_bytes: int
    efficacy_at_commit: Optional[float]
    base_model_sha256: str
    efficacy_evaluated: Optional[dict] = None
    source_commit: Optional[str] = None
    reverted_commit: Optional[str] = None
    hyperparameters: Optional[dict] = None
    context_prefixes: Optional[list[str]] = None
    fact_list: Optional[list[Fact]] = None
    deltas: Optional[list[Delta]] = None
    referenced_commit: Optional[dict] = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Commit":
        converted: dict[str, Any] = {}
        if "fact_list" in obj:
            converted["fact_list"] = [Fact.from_json(item) for item in obj["fact_list"]]
        if "deltas" in obj:
            converted["deltas"] = [_build(Delta, item) for item in obj["deltas"]]
        return _build(cls, obj, **converted)

    @property
    def short_id(self) -> str:
        return self.id[:10]


@dataclass
class FactOutcome:
    """How one fact came out of the edit (`commit --json` "outcomes")."""

    fact: str
    efficacy: bool
    logprob_before: Optional[float] = None
    logprob_after: Optional[float] = None
    target_token_ids: list[int] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class CommitResult:
    """The new commit written by `commit`."""

    id: str
    parent: Optional[str]
    method: str
    #: Number of facts committed.
    facts: int
    #: Share of the facts whose target is top-1 right after the edit.
    efficacy: float
    layers: list[int]
    rank: int
    outcomes: list[FactOutcome]
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "CommitResult":
        return _build(cls, obj, outcomes=[_build(FactOutcome, item) for item in obj.get("outcomes", [])])


@dataclass
class RevertResult:
    """The commit written by `revert`, and the later commits it re-solved."""

    id: str
    reverted: str
    resolved_commits: list[str]
    layers: list[int]
    rank: int
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "RevertResult":
        return _build(cls, obj)


@dataclass
class RebaseResult:
    """The new head after `rebase` and, per replayed commit, its source and its new id."""

    head: str
    #: (source commit, new commit) pairs in replay order.
    commits: list[tuple[str, str]]
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "RebaseResult":
        return _build(cls, obj, commits=[(item["source"], item["id"]) for item in obj.get("commits", [])])


@dataclass
class BaseModel:
    path: str
    sha256: str
    format: str
    architecture: str
    #: "ok", "differs" or "missing".
    file: str


@dataclass
class Status:
    """Where HEAD is (`status --json`)."""

    branch: Optional[str]
    detached: bool
    head: Optional[str]
    commits_in_lineage: int
    commits_in_repository: int
    facts_in_force: int
    repository: str
    base_model: BaseModel
    head_message: Optional[str] = None
    blas: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Status":
        return _build(cls, obj, base_model=_build(BaseModel, obj["base_model"]))


@dataclass
class Branch:
    name: str
    commit: str
    current: bool = False


@dataclass
class Tag:
    name: str
    commit: str


@dataclass
class Supersession:
    """A fact of the old version replaced by one of the new (same subject and prompt)."""

    subject: str
    prompt: str
    before: Fact
    after: Fact


@dataclass
class TensorDifference:
    """How one tensor differs between the two versions of a `diff`."""

    tensor: str
    layer: int
    rows: int
    cols: int
    rank: int
    frobenius_norm: float
    singular_values: list[float]
    commits_added: list[str]
    commits_removed: list[str]
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class BehaviourChange:
    """The greedy continuation of an affected prompt at both versions (`diff --behaviour`)."""

    prompt: str
    changed: bool
    before_text: str
    after_text: str
    before_ids: list[int]
    after_ids: list[int]


@dataclass
class DiffResult:
    """`diff --json`: facts added, removed and superseded; tensor differences (None across base
    models); greedy continuations with `behaviour=True`."""

    from_: str
    to: str
    same_base_model: bool
    added: list[Fact]
    removed: list[Fact]
    superseded: list[Supersession]
    tensors: Optional[list[TensorDifference]]
    behaviour: Optional[list[BehaviourChange]] = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "DiffResult":
        facts = obj.get("facts", {})
        superseded = [Supersession(item["subject"], item["prompt"], Fact.from_json(item["from"]), Fact.from_json(item["to"]))
                      for item in facts.get("superseded", [])]
        tensors = obj.get("tensors")
        behaviour = obj.get("behaviour")
        return cls(
            from_=obj["from"], to=obj["to"], same_base_model=obj["same_base_model"],
            added=[Fact.from_json(item) for item in facts.get("added", [])],
            removed=[Fact.from_json(item) for item in facts.get("removed", [])],
            superseded=superseded,
            tensors=None if tensors is None else [_build(TensorDifference, item) for item in tensors],
            behaviour=None if behaviour is None else [
                BehaviourChange(item["prompt"], item["changed"], item["from"]["text"], item["to"]["text"],
                                item["from"]["ids"], item["to"]["ids"]) for item in behaviour],
            raw=dict(obj))


@dataclass
class FactEvaluation:
    """One fact's numbers in an `eval` (p = exp(−mean per-token NLL), teacher-forced)."""

    line: int
    subject: str
    prompt: str
    target_new: str
    target_true: Optional[str]
    p_new: float
    p_true: Optional[float]
    efficacy: Optional[bool]
    magnitude: Optional[float]
    #: Share of paraphrase prompts with p(new) > p(true).
    paraphrase: Optional[float]
    #: Share of neighbourhood prompts whose own answer beats target_new.
    neighborhood: Optional[float]
    #: target_new is the greedy continuation of the rewrite prompt, every token.
    top1: bool
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class EvalResult:
    """CounterFact metrics of a version on a facts file (`eval --json`)."""

    n: int
    n_with_target_true: int
    efficacy: Optional[float]
    efficacy_magnitude: Optional[float]
    paraphrase: Optional[float]
    paraphrase_magnitude: Optional[float]
    neighborhood: Optional[float]
    neighborhood_magnitude: Optional[float]
    score: Optional[float]
    top1: Optional[float]
    top1_without_target_true: Optional[float]
    facts: list[FactEvaluation]
    dataset: str
    dataset_sha256: str
    version: Optional[str]
    model: str
    seconds: float
    stored: bool
    limit: Optional[int] = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "EvalResult":
        return _build(cls, obj, facts=[_build(FactEvaluation, item) for item in obj.get("facts", [])])


@dataclass
class ExportResult:
    """What `export` wrote; the fields after `edited_tensors` depend on the format."""

    output: str
    format: str
    source: str
    edited_tensors: list[str]
    version: Optional[str] = None
    files: Optional[list[str]] = None
    dtype: Optional[str] = None
    copied_tensors: Optional[int] = None
    requantization: Optional[list[dict]] = None
    ranks: Optional[dict[str, int]] = None
    target_modules: Optional[list[str]] = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "ExportResult":
        return _build(cls, obj)


@dataclass
class Generation:
    """A continuation (`generate --json`): `text` decodes `ids`, the new tokens only."""

    prompt: str
    prompt_ids: list[int]
    ids: list[int]
    text: str
    stopped_at_eos: bool
    logprobs: list[float]
    version: Optional[str] = None
    top_logprobs: Optional[list[list[dict]]] = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Generation":
        return _build(cls, obj)


@dataclass
class FsckProblem:
    object: str
    message: str


@dataclass
class FsckResult:
    """`fsck --json`: whether the repository is intact, and what is wrong otherwise."""

    ok: bool
    problems: list[FsckProblem]
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "FsckResult":
        return _build(cls, obj, problems=[_build(FsckProblem, item) for item in obj.get("problems", [])])
