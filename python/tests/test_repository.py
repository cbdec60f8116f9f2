"""Every Repository method against the real binary: commit in its input forms, history, refs,
revert, rebase, diff, eval, export, generate and fsck."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import mledit
from conftest import MODEL, answer, fact


def test_init_gives_an_empty_repository_on_main(repo):
    status = repo.status()
    assert status.branch == "main" and not status.detached
    assert status.head is None and status.commits_in_repository == 0 and status.facts_in_force == 0
    assert Path(status.base_model.path) == MODEL / "model.safetensors"
    assert status.base_model.file == "ok" and status.base_model.architecture == "gpt2"
    assert repo.log() == []


def test_commit_from_dicts_facts_and_a_path(repo, tmp_path):
    before = answer(repo, 0)
    first = repo.commit([fact(0).to_json(), fact(1)], message="first", method="emmet")
    assert first.parent is None and first.method == "emmet" and first.facts == 2
    assert first.efficacy == 1.0 and [outcome.efficacy for outcome in first.outcomes] == [True, True]
    assert answer(repo, 0) != before and answer(repo, 0).startswith(" " + fact(0).target_new)

    @dataclasses.dataclass
    class Custom:
        prompt: str
        subject: str
        target_new: str
        target_true: str | None = None

    second = repo.commit(Custom(fact(2).prompt, fact(2).subject, fact(2).target_new), message="second")
    assert second.parent == first.id and second.facts == 1

    path = tmp_path / "facts.jsonl"
    path.write_text(json.dumps(fact(3).to_json()) + "\n")
    third = repo.commit(path, hparams={"kl_factor": 0.05}, layers=[1])
    assert third.layers == [1]

    log = repo.log()
    assert [commit.id for commit in log] == [third.id, second.id, first.id]
    assert [commit.message for commit in log[1:]] == ["second", "first"]
    assert log[0].author == "tests" and log[0].kind == "edit" and log[0].method == "memit"
    assert [commit.id for commit in repo.log(max_count=1)] == [third.id]
    assert [commit.id for commit in repo.log(first.id)] == [first.id]

    shown = repo.show()
    assert shown.id == third.id and shown.hyperparameters["kl_factor"] == 0.05
    assert [delta.layer for delta in shown.deltas] == [1] and shown.deltas[0].tensor == "blk.1.ffn_down.weight"
    assert [(f.subject, f.target_new) for f in shown.fact_list] == [(fact(3).subject, fact(3).target_new)]
    assert repo.show(first.id[:8]).fact_list[1].subject == fact(1).subject
    assert repo.resolve("HEAD~2") == first.id
    status = repo.status()
    assert status.head == third.id and status.facts_in_force == 4 and status.commits_in_lineage == 3


def test_branches_checkout_and_tags(repo):
    first = repo.commit([fact(0)], message="A")
    status = repo.checkout("side", create=True)
    assert status.branch == "side" and status.head == first.id
    second = repo.commit([fact(1)], message="B")
    branches = {branch.name: branch for branch in repo.branch()}
    assert branches["side"].commit == second.id and branches["side"].current
    assert branches["main"].commit == first.id

    assert repo.checkout("main").branch == "main"
    detached = repo.checkout(second.id[:10])
    assert detached.detached and detached.branch is None and detached.head == second.id
    repo.checkout("main")
    assert {branch.name for branch in repo.branch("later", second.id)} == {"main", "side", "later"}
    assert {branch.name for branch in repo.branch(delete="later")} == {"main", "side"}
    assert repo.checkout("old", create=True, start=first.id).head == first.id

    assert repo.tag("v1", second.id) == [mledit.Tag("v1", second.id)]
    assert [tag.name for tag in repo.tag("v0")] == ["v0", "v1"]
    assert repo.tag(delete="v0") == [mledit.Tag("v1", second.id)]
    assert repo.resolve("v1") == second.id


def test_revert_takes_a_commit_out_and_keeps_the_later_one(repo):
    originals = [answer(repo, 0), answer(repo, 1)]
    a = repo.commit([fact(0)], message="A")
    b = repo.commit([fact(1)], message="B")
    edited_b = answer(repo, 1)
    reverted = repo.revert("HEAD~1")
    assert reverted.reverted == a.id and reverted.resolved_commits and reverted.id != b.id
    assert answer(repo, 0) == originals[0] and answer(repo, 1) == edited_b
    shown = repo.show()
    assert shown.kind == "revert" and shown.reverted_commit == a.id and shown.message == 'Revert "A"'


def test_rebase_replays_a_branch_onto_another_commit(repo):
    repo.commit([fact(0)], message="A")
    repo.checkout("side", create=True)
    b = repo.commit([fact(1)], message="B")
    repo.checkout("main")
    c = repo.commit([fact(2)], message="C")
    repo.checkout("side")
    rebased = repo.rebase("main")
    assert [source for source, _ in rebased.commits] == [b.id]
    assert rebased.head == rebased.commits[-1][1] and repo.status().head == rebased.head
    assert repo.show().parent == c.id and repo.show().source_commit == b.id
    assert answer(repo, 1).startswith(" " + fact(1).target_new) and answer(repo, 2).startswith(" " + fact(2).target_new)


def test_diff_names_facts_and_tensors(repo):
    a = repo.commit([fact(0)], message="A")
    b = repo.commit([fact(1), fact(2)], message="B")
    difference = repo.diff(a.id, b.id)
    assert difference.from_ == a.id and difference.to == b.id and difference.same_base_model
    assert sorted(f.subject for f in difference.added) == sorted([fact(1).subject, fact(2).subject])
    assert difference.removed == [] and difference.superseded == []
    assert {tensor.tensor for tensor in difference.tensors} == {"blk.0.ffn_down.weight", "blk.1.ffn_down.weight"}
    assert all(tensor.commits_added == [b.id] and tensor.frobenius_norm > 0 for tensor in difference.tensors)

    changed = repo.diff(a.id, b.id, behaviour=True, tokens=2)
    assert {change.prompt for change in changed.behaviour if change.changed} == {fact(1).text, fact(2).text}

    replaced = dataclasses.replace(fact(0), target_new=fact(3).target_new)
    repo.commit([replaced], message="again")
    superseded = repo.diff(b.id, "HEAD").superseded
    assert [(s.subject, s.before.target_new, s.after.target_new) for s in superseded] == [
        (fact(0).subject, fact(0).target_new, fact(3).target_new)]


def test_eval_before_and_after(repo):
    facts = [fact(index, full=True) for index in range(3)]
    base = repo.eval(facts)
    assert base.n == 3 and base.efficacy == 0.0 and base.version is None and not base.stored
    commit = repo.commit(facts)
    after = repo.eval(facts)
    assert after.version == commit.id and after.stored and after.efficacy == 1.0
    assert [f.line for f in after.facts] == [1, 2, 3] and all(f.top1 for f in after.facts)
    assert after.neighborhood is not None and after.neighborhood >= 0.5
    again = repo.eval(facts, at="HEAD", limit=1)
    assert again.n == 1 and again.limit == 1
    assert repo.show().efficacy_evaluated["efficacy"] == 1.0


def test_export_and_generate(repo, tmp_path):
    commit = repo.commit([fact(0)])
    exported = repo.export(tmp_path / "hf", format="safetensors")
    assert exported.version == commit.id and exported.format == "safetensors"
    assert "model.safetensors" in exported.files and (tmp_path / "hf" / "config.json").is_file()
    assert exported.edited_tensors == ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"]
    adapter = repo.export(tmp_path / "lora", format="lora")
    assert set(adapter.ranks) and (tmp_path / "lora" / "adapter_config.json").is_file()

    generation = repo.generate(fact(0).text, max_tokens=2, logprobs=2)
    assert generation.version == commit.id and len(generation.ids) == 2 and len(generation.logprobs) == 2
    assert generation.text.startswith(" " + fact(0).target_new) and len(generation.top_logprobs[0]) == 2
    assert repo.generate("--looks like an option", max_tokens=1).prompt == "--looks like an option"
    base = repo.generate(fact(0).text, max_tokens=2, at=None)
    assert base.ids == generation.ids
    sampled = [repo.generate(fact(0).text, max_tokens=4, temperature=1.0, seed=7).ids for _ in range(2)]
    assert sampled[0] == sampled[1]


def test_fsck_reports_an_intact_repository(repo):
    repo.commit([fact(0)])
    result = repo.fsck()
    assert result.ok and result.problems == []
