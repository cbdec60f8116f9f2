// The rules of a lineage, as pure functions over its records: what makes two facts the same
// fact, which commits are in force at its tip, and which facts in force a new fact supersedes.
// Reading the records is Repository's job (Repository+Lineage.swift); everything that needs
// one of these rules — the ledger itself, revert, rebase, commit, diff — asks here.

/// What makes two facts the same fact: a newer fact with the subject and prompt of an older one
/// in force supersedes it. Targets, paraphrases and neighbourhood do not count.
public struct FactIdentity: Sendable, Hashable {
    public var subject: String
    /// The prompt with `{}` where the subject goes.
    public var prompt: String

    public init(subject: String, prompt: String) {
        self.subject = subject
        self.prompt = prompt
    }
}

extension Fact {
    /// The subject and prompt that identify this fact (see `FactIdentity`).
    public var identity: FactIdentity { FactIdentity(subject: subject, prompt: prompt) }
}

/// The rules that decide what a lineage holds at its tip.
public enum Lineage {
    /// The ids of the commits of `lineage` (newest first, as `Repository.lineage(of:)` lists
    /// them) that are in force at its tip, as if
    /// `alsoReverting` (if given) were reverted by one more, newest revert.
    ///
    /// A revert in force takes the commit it names out; a revert taken out by another revert no
    /// longer does. Since a revert always names an older commit, walking from the newest commit
    /// decides each commit before any commit it could revert is reached. The result holds the
    /// edit and rebase commits whose facts and deltas are in force and the reverts in force.
    /// - Throws: `LedgerError.invalidCommit` for a revert that names no commit or one outside
    ///   `lineage`.
    public static func commitsInForce(_ lineage: [CommitRecord], alsoReverting: String? = nil) throws -> Set<String> {
        let ids = Set(lineage.map(\.id))
        var takenOut = Set<String>()
        if let alsoReverting { takenOut.insert(alsoReverting) }
        for commit in lineage where !takenOut.contains(commit.id) && commit.kind == .revert {
            guard let reverted = commit.revertedCommitID else {
                throw LedgerError.invalidCommit(reason: "revert \(commit.id.prefix(12)) names no commit")
            }
            guard ids.contains(reverted) else {
                throw LedgerError.invalidCommit(reason: "reverted commit \(reverted.prefix(12)) is not in the lineage")
            }
            takenOut.insert(reverted)
        }
        return ids.subtracting(takenOut)
    }

    /// The facts in force, given the facts of each commit in force (oldest commit first, each in
    /// ordinal order): of several facts with one identity only the newest remains, at the place
    /// of the newest, its `supersedes` naming the one it replaced. Oldest first.
    public static func factsInForce(_ factsByCommit: [[FactRecord]]) -> [FactRecord] {
        var order: [FactIdentity] = []
        var byIdentity: [FactIdentity: FactRecord] = [:]
        for facts in factsByCommit {
            for var record in facts {
                let identity = record.fact.identity
                if let older = byIdentity[identity] {
                    record.supersedes = older.reference
                    order.removeAll { $0 == identity }
                } else {
                    record.supersedes = nil
                }
                byIdentity[identity] = record
                order.append(identity)
            }
        }
        return order.compactMap { byIdentity[$0] }
    }

    /// For each of `facts`, the fact in force (`inForce`, as `factsInForce` lists them) it
    /// supersedes: the one with its identity, or nil.
    public static func superseded(by facts: [Fact], inForce: [FactRecord]) -> [FactReference?] {
        var byIdentity: [FactIdentity: FactReference] = [:]
        for record in inForce { byIdentity[record.fact.identity] = record.reference }
        return facts.map { byIdentity[$0.identity] }
    }

    /// What reverting `targetID` on top of `lineage` (newest first) changes: the commits to
    /// re-solve, on which version, and which facts they must keep in memory.
    /// - Throws: `LedgerError.notInHistory`, `.alreadyReverted`, and the errors of `commitsInForce`.
    public static func revertPlan(_ lineage: [CommitRecord], reverting targetID: String) throws -> RevertPlan {
        let oldestFirst = Array(lineage.reversed())
        guard let targetIndex = oldestFirst.firstIndex(where: { $0.id == targetID }) else {
            throw LedgerError.notInHistory(commitID: targetID)
        }
        guard try commitsInForce(lineage).contains(targetID) else {
            throw LedgerError.alreadyReverted(commitID: targetID)
        }
        let inForce = try commitsInForce(lineage, alsoReverting: targetID)
        let start = replayStart(oldestFirst, from: targetIndex)
        let target = oldestFirst[targetIndex]
        let carriesFacts = { (commit: CommitRecord) in commit.kind != .revert && inForce.contains(commit.id) }
        var remembered = oldestFirst[..<start].filter(carriesFacts).map(\.id)
        // The reverted facts stay in the memory: the re-solved commits must keep their prompts at
        // what the weights without the reverted edit give.
        if target.kind != .revert && targetIndex >= start { remembered.append(targetID) }
        return RevertPlan(replayParentID: start > 0 ? oldestFirst[start - 1].id : nil,
                          replayed: oldestFirst[start...].filter(carriesFacts).map(\.id),
                          remembered: remembered,
                          undone: oldestFirst[start...].map(\.id))
    }

    /// The first index of `lineage` (oldest first) whose effect a revert of `targetIndex` changes:
    /// the reverted commit, or earlier when a later revert names an earlier commit (directly or
    /// through a chain of reverts).
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
}

/// How a revert is computed: the weights at `replayParentID` (nil: the base model) plus the
/// `replayed` commits re-solved there, with the facts of `remembered` held in memory, replace the
/// deltas of every commit in `undone`. The revert's delta is Σ re-solved − Σ stored of `undone`.
public struct RevertPlan: Sendable, Equatable {
    public var replayParentID: String?
    /// The commits to re-solve, oldest first: the edits and rebases in force from the start on.
    public var replayed: [String]
    /// The commits whose facts the re-solved commits keep, oldest first.
    public var remembered: [String]
    /// Every commit from the start of the replay to HEAD, oldest first.
    public var undone: [String]
}
