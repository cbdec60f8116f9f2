// A commit's edit as the user expects it: solved, then checked on the edited weights — does the
// greedy answer to each rewrite prompt give the new target? — and, when some fact does not land,
// solved once more with a stronger setting (EditHyperparameters.strengthened), keeping whichever
// round lands more facts. Facts that still do not land refuse the commit, or with
// `--allow-partial` are left out and the rest solved again on their own. Nothing is written here.
import Foundation
import Ledger
import Models
import Solvers
import Tensors

public struct VerifiedEdit {
    /// The facts the commit records, and how they were solved.
    public var requests: [EditRequest]
    public var hyperparameters: EditHyperparameters
    public var result: EditResult
    /// Per recorded fact, what the verification found.
    public var checks: [FactCheck]
    /// The facts that did not land and were left out (`--allow-partial`).
    public var leftOut: [FactCheck]
    /// How many times the batch was solved.
    public var rounds: Int

    /// Solves and verifies (without `retry`, one round whose verdicts are only reported).
    /// `memory(facts)` gives the memory of the facts in force that `facts`
    /// must preserve.
    /// - Throws: `MLEditError` when facts do not land and `allowPartial` is false (or none
    ///   lands); solver errors.
    package static func solve(requests: [EditRequest], method: EditMethod, hyperparameters h: EditHyperparameters,
                      statistics: [Int: LayerStatistics], memory: ([EditRequest]) throws -> EditMemory,
                      model: EditableModel, tokenizer: Tokenizer, allowPartial: Bool, retry: Bool = true,
                      progress: @escaping (EditProgress) -> Void) throws -> VerifiedEdit {
        func attempt(_ facts: [EditRequest], _ h: EditHyperparameters) throws -> (EditResult, [FactCheck]) {
            let layers = h.sortedLayers
            let saved = layers.map { model.mlpOutputWeight(layer: $0) }
            defer { for (layer, weight) in zip(layers, saved) { model.setMLPOutputWeight(layer: layer, weight) } }
            let memory = try memory(facts)
            let result = try EditPlanner.computeEdit(
                model: model, tokenizer: tokenizer, requests: facts, method: method, hyperparameters: h, statistics: statistics,
                previousKeys: memory.keys, previousGrams: memory.grams, lifelongStatistics: memory.lifelongStatistics,
                apply: true, progress: progress)
            return (result, try EditVerification.check(model: model, tokenizer: tokenizer, requests: facts))
        }
        var (result, checks) = try attempt(requests, h)
        var used = h, rounds = 1
        guard retry else {
            return VerifiedEdit(requests: requests, hyperparameters: h, result: result, checks: checks, leftOut: [], rounds: 1)
        }
        if checks.contains(where: { !$0.landed }) {
            let stronger = h.strengthened()
            let (second, secondChecks) = try attempt(requests, stronger)
            rounds = 2
            if secondChecks.filter(\.landed).count > checks.filter(\.landed).count {
                var marked = secondChecks
                for index in marked.indices where marked[index].landed && !checks[index].landed { marked[index].retried = true }
                (result, checks, used) = (second, marked, stronger)
            }
        }
        let failing = checks.filter { !$0.landed }
        if failing.isEmpty {
            return VerifiedEdit(requests: requests, hyperparameters: used, result: result, checks: checks, leftOut: [], rounds: rounds)
        }
        let listed = failing.prefix(5).map(describe).joined(separator: "; ") + (failing.count > 5 ? "; …" : "")
        guard allowPartial else {
            throw MLEditError(.editFailed, "\(failing.count) of \(requests.count) fact\(requests.count == 1 ? "" : "s") did not land, even with a second round of twice the steps and clamp: \(listed); nothing was written (--allow-partial records the others)")
        }
        let kept = zip(requests, checks).filter(\.1.landed).map(\.0)
        guard !kept.isEmpty else {
            throw MLEditError(.editFailed, "none of the \(requests.count) facts landed: \(listed); nothing was written")
        }
        let retried = Set(checks.filter(\.retried).map(\.fact))
        var (keptResult, keptChecks) = try attempt(kept, used)
        for index in keptChecks.indices where retried.contains(keptChecks[index].fact) { keptChecks[index].retried = true }
        return VerifiedEdit(requests: kept, hyperparameters: used, result: keptResult, checks: keptChecks,
                            leftOut: failing, rounds: rounds + 1)
    }

    /// `line 3 "France" (top-1 " French", p(new) 0.013, p(true) 0.915)`.
    public static func describe(_ check: FactCheck) -> String {
        var figures = ["top-1 \(check.topToken.debugDescription)", String(format: "p(new) %.3g", check.probabilityNew)]
        if let old = check.probabilityTrue { figures.append(String(format: "p(true) %.3g", old)) }
        return "\(check.fact) (\(figures.joined(separator: ", ")))"
    }

    /// The outcome as stored with the commit.
    public var ledgerValue: JSONValue {
        get throws {
            try JSONValue(encoding: VerificationRecord(rounds: rounds, facts: checks, leftOut: leftOut), field: "verification")
        }
    }

}

/// The verification as a commit stores it and `show` reads it back.
public struct VerificationRecord: Codable {
    public var rounds: Int
    public var facts: [FactCheck]
    public var leftOut: [FactCheck]
    public enum CodingKeys: String, CodingKey {
        case rounds, facts
        case leftOut = "left_out"
    }
}
