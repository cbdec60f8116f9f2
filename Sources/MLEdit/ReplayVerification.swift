// What a revert or rebase did to the facts, as the user sees them: after the replay, the facts in
// force must still land (the greedy answer is the whole new target), and a reverted fact must be
// undone — its greedy answer no longer its reverted target (unless it was so before the commit).
// Whether it answers exactly as before the commit is reported beside: the later commits replayed
// on top change the model too, so over a long history that is not expected. Reported, not
// enforced: the replay is the ledger's rule, and a fact that fails is the user's to commit again.
import Foundation
import Ledger
import Models
import Solvers

/// The check of a version made by revert or rebase.
public struct ReplayVerification: Equatable {
    /// Facts in force at the new version, how many of them were checked (all, or a sample of
    /// `HealthCheck.retentionSampleSize` when there are more), and the checked ones that do not land.
    public var inForce: Int
    public var checked: Int
    public var notLanded: [FactCheck]
    /// Facts of the reverted commits checked; those that still say their reverted target; those
    /// whose greedy answer differs from the one before the reverted commit: (label, now, before).
    public var reverted: Int
    public var revertedStillEdited: [FactCheck]
    public var revertedChanged: [(fact: String, now: String, before: String)]

    public var landed: Int { checked - notLanded.count }

    /// "12 of 12 facts in force land; 3 of 3 reverted facts answer as before the commit".
    public var summary: String {
        var parts = ["\(landed) of \(checked) \(checked == 1 ? "fact" : "facts") in force land\(checked == 1 ? "s" : "")"
            + (inForce > checked ? " (a sample of \(inForce))" : "")]
        if reverted > 0 {
            parts.append("\(reverted - revertedStillEdited.count) of \(reverted) reverted \(reverted == 1 ? "fact" : "facts") undone, "
                + "\(reverted - revertedChanged.count) answering as before the commit")
        }
        return parts.joined(separator: "; ")
    }

    /// One warning line per fact that does not land or did not come back.
    public var warnings: [String] {
        notLanded.map { check in
            "warning: \(check.fact) no longer lands (p(new) \(String(format: "%.3f", check.probabilityNew)), top-1 \(check.topToken.debugDescription))"
        } + revertedStillEdited.map { "warning: reverted \($0.fact) still answers its reverted target \($0.topToken.debugDescription)" }
    }

    /// The check as `--json` prints it.
    public var jsonObject: [String: Any] {
        ["facts_in_force": inForce, "checked": checked, "landed": landed,
         "not_landed": notLanded.map { ["fact": $0.fact, "p_new": $0.probabilityNew, "top1": $0.topToken] as [String: Any] },
         "reverted_checked": reverted,
         "reverted_still_edited": revertedStillEdited.map { ["fact": $0.fact, "p_new": $0.probabilityNew, "top1": $0.topToken] as [String: Any] },
         "reverted_changed": revertedChanged.map { ["fact": $0.fact, "answer": $0.now, "before": $0.before] }]
    }

    public static func == (a: ReplayVerification, b: ReplayVerification) -> Bool {
        a.inForce == b.inForce && a.checked == b.checked && a.notLanded == b.notLanded && a.reverted == b.reverted
            && a.revertedStillEdited == b.revertedStillEdited
            && a.revertedChanged.map { [$0.fact, $0.now, $0.before] } == b.revertedChanged.map { [$0.fact, $0.now, $0.before] }
    }

    /// Checks version `commitID` (the context is moved there). `revertedFacts` are compared with
    /// their answers at `revertedParentID` (nil: the base model); facts of them back in force
    /// through another commit are left out.
    package static func check(commitID: String, context: inout EditContext, revertedFacts: [FactRecord] = [],
                              revertedParentID: String? = nil) throws -> ReplayVerification {
        let repository = context.repository
        let inForce = try repository.facts(inLineageOf: commitID)
        let sample = HealthCheck.retentionSample(inForce)
        try context.moveTo(commitID)
        let checks = try EditVerification.check(model: context.model, tokenizer: context.tokenizer,
                                                requests: sample.map(EditRequest.init))
        let active = Set(inForce.map(\.fact.identity))
        let reverted = revertedFacts.filter { !active.contains($0.fact.identity) }
        var changed: [(String, String, String)] = []
        var stillEdited: [FactCheck] = []
        if !reverted.isEmpty {
            let requests = reverted.map(EditRequest.init)
            let prompts = try requests.map { try FactTokenization.prompt($0, tokenizer: context.tokenizer).ids }
            let lengths = try requests.map { try FactTokenization.target($0.targetNew, label: $0.label, tokenizer: context.tokenizer).count }
            let tokenCount = max(1, lengths.max() ?? 1)
            let scorer = EvaluationScorer()
            let now = scorer.greedyContinuations(model: context.model, prompts: prompts, tokenCount: tokenCount)
            let checksNow = try EditVerification.check(model: context.model, tokenizer: context.tokenizer, requests: requests)
            try context.moveTo(revertedParentID)
            let before = scorer.greedyContinuations(model: context.model, prompts: prompts, tokenCount: tokenCount)
            let checksBefore = try EditVerification.check(model: context.model, tokenizer: context.tokenizer, requests: requests)
            try context.moveTo(commitID)
            for (i, request) in requests.enumerated() {
                let a = Array(now[i].prefix(lengths[i])), b = Array(before[i].prefix(lengths[i]))
                if a != b { changed.append((request.label, context.tokenizer.decode(a), context.tokenizer.decode(b))) }
                if checksNow[i].landed && !checksBefore[i].landed { stillEdited.append(checksNow[i]) }
            }
        }
        return ReplayVerification(inForce: inForce.count, checked: sample.count, notLanded: checks.filter { !$0.landed },
                                  reverted: reverted.count, revertedStillEdited: stillEdited, revertedChanged: changed)
    }
}
