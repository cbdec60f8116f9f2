"""mledit.easyedit.Editor: EasyEdit's edit() call shape and metric keys, one commit per call or
per fact, and keep_original_weight leaving the branch where it was."""
from __future__ import annotations

from mledit.easyedit import Editor, Version
from conftest import records

CASES = records()[:3]


def arguments(cases=CASES):
    rewrites = [case["requested_rewrite"] for case in cases]
    return dict(
        prompts=[rewrite["prompt"].format(rewrite["subject"]) for rewrite in rewrites],
        target_new=[rewrite["target_new"]["str"] for rewrite in rewrites],
        subject=[rewrite["subject"] for rewrite in rewrites],
        ground_truth=[rewrite["target_true"]["str"] for rewrite in rewrites],
        rephrase_prompts=[case["paraphrase_prompts"][0] for case in cases],
        locality_inputs={"neighborhood": {"prompt": [case["neighborhood_prompts"] for case in cases],
                                          "ground_truth": [case["neighborhood_answers"] for case in cases]}})


def test_batch_edit_is_one_commit_with_easyedit_metrics(repo):
    metrics, model, weights = Editor(repo, method="memit").edit(**arguments(), sequential_edit=False)
    assert weights is None and isinstance(model, Version)
    log = repo.log()
    assert [commit.id for commit in log] == [model.commit] and log[0].facts == 3
    assert [entry["case_id"] for entry in metrics] == [0, 1, 2]
    for entry, case in zip(metrics, CASES):
        assert set(entry) >= {"case_id", "requested_rewrite", "time", "pre", "post"}
        assert entry["requested_rewrite"]["subject"] == case["requested_rewrite"]["subject"]
        assert entry["requested_rewrite"]["target_new"] == case["requested_rewrite"]["target_new"]["str"]
        assert entry["time"] > 0 and entry["commit"] == model.commit
        for phase in ("pre", "post"):
            assert set(entry[phase]) == {"rewrite_acc", "rephrase_acc", "locality", "portability"}
            assert set(entry[phase]["locality"]) == {"neighborhood_acc"}
        assert entry["pre"]["rewrite_acc"] == [0.0] and entry["post"]["rewrite_acc"] == [1.0]
    # The tiny model generalizes little to paraphrases; the measure is asserted for its shape only.
    assert all(entry["pre"]["rephrase_acc"] == [0.0] and 0.0 <= entry["post"]["rephrase_acc"][0] <= 1.0 for entry in metrics)
    assert all(entry["post"]["locality"]["neighborhood_acc"][0] >= 0.5 for entry in metrics)
    assert model.generate(arguments()["prompts"][0], max_tokens=1).text.strip() == arguments()["target_new"][0]


def test_sequential_edit_commits_each_fact_and_single_strings_work(repo):
    first, model, before = Editor(repo).edit(prompts="Tilea Gropaendic works as a", target_new="baker",
                                             subject="Tilea Gropaendic", ground_truth="pilot")
    assert before is None and first[0]["pre"]["rewrite_acc"] == [0.0] and first[0]["post"]["rewrite_acc"] == [1.0]
    assert "rephrase_acc" not in first[0]["post"] and first[0]["post"]["locality"] == {}

    metrics, after, weights = Editor(repo.path, method="emmet", env=repo.runner.environment).edit(
        **arguments(CASES[1:]), sequential_edit=True)
    log = repo.log()
    assert len(log) == 3 and [commit.method for commit in log[:2]] == ["emmet", "emmet"]
    assert weights.commit == model.commit and after.commit == log[0].id
    assert [entry["commit"] for entry in metrics] == [log[1].id, log[0].id]
    assert all(entry["post"]["rewrite_acc"] == [1.0] for entry in metrics)


def test_keep_original_weight_leaves_the_branch_alone(repo):
    _, start, _ = Editor(repo).edit(**arguments(CASES[:1]))
    metrics, model, weights = Editor(repo).edit(**arguments(CASES[1:2]), keep_original_weight=True)
    status = repo.status()
    assert status.branch == "main" and status.head == start.commit
    assert weights.commit == start.commit and repo.show(model.commit).parent == start.commit
    assert metrics[0]["post"]["rewrite_acc"] == [1.0]
