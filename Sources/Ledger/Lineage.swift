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
}
