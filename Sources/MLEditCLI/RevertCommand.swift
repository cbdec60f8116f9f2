// `mledit revert`: a new commit that takes the edit of an earlier commit out while every later
// commit's facts stay memorized. The later commits are re-solved with their stored keys and
// target values on weights without the reverted edit, and the difference to the current weights
// is stored as the revert's low-rank delta.
import Foundation
import Ledger
import Models
import Solvers
import Tensors

enum RevertCommand {
    static let spec = CommandSpec(
        name: "revert",
        abstract: "Take the edit of a commit out, keeping the facts of later commits.",
        arguments: [ArgumentSpec("REV", help: "The commit to revert (id, prefix, branch, tag, HEAD~N).")],
        options: [
            WriterLockOption.spec,
            OptionSpec(["--message", "-m"], value: "MSG", help: "Commit message (default: Revert \"<message of REV>\")."),
            OptionSpec(["--author"], value: "NAME", help: "Author (default: $MLEDIT_AUTHOR, else $USER)."),
            OptionSpec(["--corpus"], value: "PATH", repeatable: true, help: "Corpus for preservation statistics, when they are not cached."),
            OptionSpec(["--json"], help: "Print the new commit as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let repository = try RepositoryLocator.require(console)
        let lock = try WriterLockOption.acquire(repository, arguments: arguments, console: console, command: "revert")
        defer { withExtendedLifetime(lock) {} }
        guard let headID = try repository.head().commitID else { throw CommandFailure("nothing to revert: the branch has no commits") }
        let targetID = try repository.resolve(arguments.positionals[0])
        let lineage = Array(try repository.lineage(of: headID).reversed())
        guard let targetIndex = lineage.firstIndex(where: { $0.id == targetID }) else {
            throw CommandFailure("commit \(targetID.prefix(10)) is not in the history of HEAD")
        }
        let target = lineage[targetIndex]
        guard try Lineage.commitsInForce(lineage.reversed()).contains(targetID) else {
            throw CommandFailure("commit \(targetID.prefix(10)) is already reverted")
        }
        let effective = try Lineage.commitsInForce(lineage.reversed(), alsoReverting: targetID)
        let start = replayStart(lineage, from: targetIndex)
        let startParent = start > 0 ? lineage[start - 1].id : nil
        let replayed = lineage[start...].filter { effective.contains($0.id) && HistoryReplay.carriesFacts($0) }
        // The reverted facts stay in the memory: the re-solved commits must keep their prompts at
        // what the weights without the reverted edit give.
        var prior = lineage[..<start].filter { effective.contains($0.id) && HistoryReplay.carriesFacts($0) }
        if HistoryReplay.carriesFacts(target) && targetIndex >= start { prior.append(target) }

        var context = try EditContext.load(repository: repository, parentID: startParent, console: console)
        let corpus = arguments.values("--corpus").isEmpty ? nil
            : arguments.values("--corpus").map { console.url(forPath: $0).path }
        let solved = try HistoryReplay.resolve(Array(replayed), prior: prior, context: &context, corpus: corpus, console: console)

        // Revert delta = (weights at startParent + re-solved deltas) − current weights
        //              = Σ re-solved − Σ stored deltas of lineage[start...].
        var byLayer: [Int: LowRankDelta<Double>] = [:]
        func add(_ layer: Int, u: Matrix<Double>, v: Matrix<Double>) {
            if let existing = byLayer[layer] {
                byLayer[layer] = LowRankDelta(u: existing.u.appendingColumns(u), v: existing.v.appendingColumns(v))
            } else {
                byLayer[layer] = LowRankDelta(u: u, v: v)
            }
        }
        for replayed in solved { for (layer, delta) in replayed.deltas { add(layer, u: delta.u, v: delta.v) } }
        for commit in lineage[start...] {
            for record in try repository.deltas(of: commit.id) {
                let stored = try repository.decodeDelta(commit: commit.id, tensor: record.tensor)
                add(record.layer, u: -1.0 * stored.u.toDouble(), v: stored.v.toDouble())
            }
        }
        let deltas = byLayer.keys.sorted().map { layer in
            DeltaInput(tensor: TensorNaming.mlpOutputWeight(layer: layer), layer: layer, u: byLayer[layer]!.u, v: byLayer[layer]!.v)
        }
        let author = arguments.value("--author") ?? console.environment["MLEDIT_AUTHOR"] ?? console.environment["USER"] ?? "unknown"
        let message = arguments.value("--message") ?? "Revert \"\(target.message)\""
        let draft = CommitDraft(parentID: headID, baseModelID: target.baseModelID, kind: .revert, method: "revert",
                                facts: [], deltas: deltas, message: message, author: author, revertedCommitID: targetID)
        let record = try repository.writeCommit(draft)
        if arguments.flag("--json") {
            try console.printJSON(["id": record.id, "reverted": targetID, "resolved_commits": replayed.map(\.id),
                                   "layers": deltas.map(\.layer), "rank": deltas.map { $0.u.cols }.reduce(0, +)])
            return
        }
        console.print("[\(try branchLabel(repository)) \(record.id.prefix(10))] \(message)")
        let later = replayed.count
        console.print(" reverted \(targetID.prefix(10)); re-solved \(later) commit\(later == 1 ? "" : "s") on top, rank \(deltas.map { $0.u.cols }.reduce(0, +)) over \(deltas.count) tensor\(deltas.count == 1 ? "" : "s")")
    }

    /// The first lineage index whose effect changes: the reverted commit, or earlier when a later
    /// revert names an earlier commit (directly or through a chain of reverts).
    static func replayStart(_ lineage: [CommitRecord], from targetIndex: Int) -> Int {
        let index = Dictionary(uniqueKeysWithValues: lineage.enumerated().map { ($1.id, $0) })
        var start = targetIndex
        var changed = true
        while changed {
            changed = false
            for commit in lineage[start...] where commit.kind == .revert {
                if let target = commit.revertedCommitID, let i = index[target], i < start {
                    start = i
                    changed = true
                }
            }
            let targetOfTarget = lineage[start].kind == .revert ? lineage[start].revertedCommitID.flatMap { index[$0] } : nil
            if let i = targetOfTarget, i < start {
                start = i
                changed = true
            }
        }
        return start
    }

    static func branchLabel(_ repository: Repository) throws -> String {
        switch try repository.head() {
        case .branch(let name, _): return name.replacingOccurrences(of: "refs/heads/", with: "")
        case .detached: return "detached HEAD"
        }
    }
}
