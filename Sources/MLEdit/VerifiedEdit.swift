// A commit's edit as the user expects it: solved, then checked on the edited weights — does the
// greedy answer to each rewrite prompt give the new target? — and, when some fact does not land,
// further rounds (at most `retryRounds`, while each lands more facts than the one before): the
// targets of the facts that did not land are optimised again on the edited weights with a
// stronger setting (EditHyperparameters.strengthened), so that they overshoot by what the solve
// fell short of, and the batch is solved again from the same weights with the landed facts'
// targets kept. Facts that still do not land refuse the commit, or with `--allow-partial` are
// left out and the rest solved again towards their targets (with further rounds for any that
// no longer land). Nothing is written here.
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
        let layers = h.sortedLayers
        let saved = layers.map { model.mlpOutputWeight(layer: $0) }
        func restore() { for (layer, weight) in zip(layers, saved) { model.setMLPOutputWeight(layer: layer, weight) } }
        defer { restore() }
        /// Solves `facts` from the saved weights and checks them; the weights stay edited until the next round.
        func attempt(_ facts: [EditRequest], _ h: EditHyperparameters, prefixes: [String]? = nil,
                     targets: [TargetValue]? = nil) throws -> (EditResult, [FactCheck]) {
            restore()
            let memory = try memory(facts)
            let result = try EditPlanner.computeEdit(
                model: model, tokenizer: tokenizer, requests: facts, method: method, hyperparameters: h, statistics: statistics,
                previousKeys: memory.keys, previousGrams: memory.grams, previousContextKeys: memory.contextKeys,
                prefixes: prefixes, presetTargets: targets,
                lifelongStatistics: memory.lifelongStatistics, apply: true, progress: progress)
            return (result, try EditVerification.check(model: model, tokenizer: tokenizer, requests: facts))
        }
        // UltraEdit optimises no targets, so its rounds are solved afresh.
        let reusesTargets = method != .ultraedit
        let stronger = h.strengthened()
        /// Further rounds for the facts of `current` that did not land, while a round lands more
        /// than the one before it and at most `retryRounds` of them; the weights hold `current`'s edit.
        func retried(_ facts: [EditRequest], _ current: (EditResult, [FactCheck]), used: EditHyperparameters)
            throws -> (result: EditResult, checks: [FactCheck], used: EditHyperparameters, rounds: Int) {
            var (result, checks) = current
            var used = used, rounds = 0
            // UltraEdit's stronger round is the same solve each time: one is enough.
            while rounds < (reusesTargets ? Self.retryRounds : 1), checks.contains(where: { !$0.landed }) {
                let (next, nextChecks): (EditResult, [FactCheck])
                if !reusesTargets {
                    (next, nextChecks) = try attempt(facts, stronger)
                } else {
                    let failing = checks.indices.filter { !checks[$0].landed }
                    let retargeted = try EditPlanner.retarget(model: model, tokenizer: tokenizer, requests: failing.map { facts[$0] },
                                                              prefixes: result.prefixes, hyperparameters: stronger)
                    var targets = result.targetValues
                    for (index, target) in zip(failing, retargeted) { targets[index] = target }
                    (next, nextChecks) = try attempt(facts, stronger, prefixes: result.prefixes, targets: targets)
                }
                rounds += 1
                guard nextChecks.filter(\.landed).count > checks.filter(\.landed).count else { break }
                var marked = nextChecks
                for index in marked.indices where marked[index].landed && (checks[index].retried || !checks[index].landed) {
                    marked[index].retried = true
                }
                (result, checks, used) = (next, marked, stronger)
            }
            return (result, checks, used, rounds)
        }
        let first = try attempt(requests, h)
        guard retry else {
            return VerifiedEdit(requests: requests, hyperparameters: h, result: first.0, checks: first.1, leftOut: [], rounds: 1)
        }
        let (result, checks, used, extra) = try retried(requests, first, used: h)
        let rounds = 1 + extra
        let failing = checks.filter { !$0.landed }
        if failing.isEmpty {
            return VerifiedEdit(requests: requests, hyperparameters: used, result: result, checks: checks, leftOut: [], rounds: rounds)
        }
        let listed = failing.prefix(5).map(describe).joined(separator: "; ") + (failing.count > 5 ? "; …" : "")
        guard allowPartial else {
            throw MLEditError(.editFailed, "\(failing.count) of \(requests.count) fact\(requests.count == 1 ? "" : "s") did not land, even with further rounds of targets optimised again with twice the steps and clamp: \(listed); nothing was written (--allow-partial records the others)")
        }
        let keptIndices = checks.indices.filter { checks[$0].landed }
        guard !keptIndices.isEmpty else {
            throw MLEditError(.editFailed, "none of the \(requests.count) facts landed: \(listed); nothing was written")
        }
        // The kept facts solved again towards their targets without the others; any that no
        // longer land get the further rounds as well.
        let kept = keptIndices.map { requests[$0] }
        var keptAttempt = try attempt(kept, used, prefixes: reusesTargets ? result.prefixes : nil,
                                      targets: reusesTargets ? keptIndices.map { result.targetValues[$0] } : nil)
        for (index, original) in keptIndices.enumerated() where checks[original].retried { keptAttempt.1[index].retried = true }
        let final = try retried(kept, keptAttempt, used: used)
        return VerifiedEdit(requests: kept, hyperparameters: final.used, result: final.result, checks: final.checks,
                            leftOut: failing, rounds: rounds + 1 + final.rounds)
    }

    /// At most this many rounds after the first, for the facts that did not land.
    public static let retryRounds = 2

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
