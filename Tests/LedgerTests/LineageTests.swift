// The rules of a lineage on hand-built records: commits in force under chains of reverts,
// facts in force and what a new fact supersedes. No repository: the rules are pure.
import Testing
@testable import Ledger

@Suite("Lineage rules")
struct LineageTests {
    /// Commits named "c0", "c1", … each the parent of the next; `reverts[i]` is the index of the
    /// commit that commit i reverts. Returned newest first, as `Repository.lineage(of:)` lists them.
    static func lineage(_ count: Int, reverts: [Int: Int] = [:]) -> [CommitRecord] {
        (0..<count).map { i in
            CommitRecord(id: "c\(i)", parentID: i == 0 ? nil : "c\(i - 1)", baseModelID: 1, baseModelDigest: "base",
                         kind: reverts[i] == nil ? .edit : .revert, method: reverts[i] == nil ? "MEMIT" : "revert",
                         hyperparameters: .object([:]), contextPrefixes: [], message: "", author: "", createdAt: "",
                         sourceCommitID: nil, revertedCommitID: reverts[i].map { "c\($0)" }, efficacy: nil)
        }.reversed()
    }

    @Test("without reverts every commit is in force")
    func noReverts() throws {
        #expect(try Lineage.commitsInForce(Self.lineage(3)) == ["c0", "c1", "c2"])
        #expect(try Lineage.commitsInForce([]) == [])
    }

    @Test("a revert takes its commit out; reverting the revert puts it back")
    func revertOfRevert() throws {
        #expect(try Lineage.commitsInForce(Self.lineage(3, reverts: [2: 0])) == ["c1", "c2"])
        #expect(try Lineage.commitsInForce(Self.lineage(3, reverts: [1: 0, 2: 1])) == ["c0", "c2"])
        #expect(try Lineage.commitsInForce(Self.lineage(4, reverts: [1: 0, 2: 1, 3: 2])) == ["c1", "c3"])
    }

    @Test("a commit stays out while any revert of it is in force")
    func twoRevertsOfOneCommit() throws {
        // c1 and c3 both revert c0; c2 reverts c1 (c0 back), c4 reverts c2 (c1 back in force),
        // c5 reverts c3: c1 still holds c0 out.
        let lineage = Self.lineage(6, reverts: [1: 0, 2: 1, 3: 0, 4: 2, 5: 3])
        #expect(try Lineage.commitsInForce(lineage) == ["c1", "c4", "c5"])
    }

    @Test("alsoReverting counts as one more, newest revert")
    func alsoReverting() throws {
        #expect(try Lineage.commitsInForce(Self.lineage(3), alsoReverting: "c1") == ["c0", "c2"])
        // Reverting the revert c1 puts c0 back.
        #expect(try Lineage.commitsInForce(Self.lineage(2, reverts: [1: 0]), alsoReverting: "c1") == ["c0"])
    }

    @Test("a revert naming a commit outside the lineage, or none, is refused")
    func brokenReverts() throws {
        var lineage = Self.lineage(2, reverts: [1: 0])
        lineage[0].revertedCommitID = "elsewhere"
        #expect(throws: LedgerError.self) { try Lineage.commitsInForce(lineage) }
        lineage[0].revertedCommitID = nil
        #expect(throws: LedgerError.self) { try Lineage.commitsInForce(lineage) }
    }

    static func record(_ commit: String, _ ordinal: Int, subject: String, prompt: String = "{} is in",
                       target: String = "X") -> FactRecord {
        FactRecord(reference: FactReference(commitID: commit, ordinal: ordinal),
                   fact: Fact(subject: subject, prompt: prompt, targetNew: target), supersedes: nil)
    }

    @Test("identity is subject and prompt, nothing else")
    func identity() {
        let a = Fact(subject: "Paris", prompt: "{} is in", targetNew: "France", paraphrases: ["p"])
        #expect(a.identity == Fact(subject: "Paris", prompt: "{} is in", targetNew: "Italy").identity)
        #expect(a.identity != Fact(subject: "Paris", prompt: "{} lies in", targetNew: "France").identity)
        #expect(FactIdentity(subject: "a\u{0}b", prompt: "c") != FactIdentity(subject: "a", prompt: "b\u{0}c"))
    }

    @Test("of facts with one identity the newest stays, at its own place, naming the one it replaced")
    func factsInForce() {
        let facts = Lineage.factsInForce([
            [Self.record("c0", 0, subject: "A"), Self.record("c0", 1, subject: "B")],
            [Self.record("c1", 0, subject: "A", target: "Y"), Self.record("c1", 1, subject: "C")],
            [Self.record("c2", 0, subject: "A", target: "Z")],
        ])
        #expect(facts.map(\.reference) == [FactReference(commitID: "c0", ordinal: 1), FactReference(commitID: "c1", ordinal: 1),
                                          FactReference(commitID: "c2", ordinal: 0)])
        #expect(facts.map(\.supersedes) == [nil, nil, FactReference(commitID: "c1", ordinal: 0)])
        #expect(facts.last?.fact.targetNew == "Z")
    }

    @Test("a new fact supersedes the fact in force with its identity")
    func superseded() {
        let inForce = [Self.record("c0", 0, subject: "A"), Self.record("c1", 0, subject: "B")]
        let new = [Fact(subject: "B", prompt: "{} is in", targetNew: "Q"), Fact(subject: "A", prompt: "{} was in", targetNew: "Q"),
                   Fact(subject: "A", prompt: "{} is in", targetNew: "R")]
        #expect(Lineage.superseded(by: new, inForce: inForce) == [FactReference(commitID: "c1", ordinal: 0), nil,
                                                                 FactReference(commitID: "c0", ordinal: 0)])
        #expect(Lineage.superseded(by: new, inForce: []) == [nil, nil, nil])
    }

    @Test("a revert plan re-solves the later commits in force on the reverted commit's parent")
    func revertPlanOfAnEdit() throws {
        let plan = try Lineage.revertPlan(Self.lineage(4), reverting: "c1")
        #expect(plan == RevertPlan(replayParentID: "c0", replayed: ["c2", "c3"], remembered: ["c0", "c1"],
                                   undone: ["c1", "c2", "c3"]))
        let root = try Lineage.revertPlan(Self.lineage(2), reverting: "c0")
        #expect(root == RevertPlan(replayParentID: nil, replayed: ["c1"], remembered: ["c0"], undone: ["c0", "c1"]))
    }

    @Test("a revert plan starts at the oldest commit a later revert named, and skips commits out of force")
    func revertPlanAcrossReverts() throws {
        // c2 reverts c0; reverting c1 must replay from c0 on, where c2's effect begins, and c0
        // stays out of force (neither re-solved nor remembered).
        let plan = try Lineage.revertPlan(Self.lineage(4, reverts: [2: 0]), reverting: "c1")
        #expect(plan == RevertPlan(replayParentID: nil, replayed: ["c3"], remembered: ["c1"], undone: ["c0", "c1", "c2", "c3"]))
        // Reverting the revert c2 brings c0 back: c0 is re-solved, c1 and c3 with it.
        let back = try Lineage.revertPlan(Self.lineage(4, reverts: [2: 0]), reverting: "c2")
        #expect(back.replayParentID == nil && back.replayed == ["c0", "c1", "c3"] && back.remembered.isEmpty)
    }

    @Test("a revert plan refuses a commit outside the history and one already reverted")
    func revertPlanRefusals() throws {
        #expect { try Lineage.revertPlan(Self.lineage(2), reverting: "elsewhere") } throws: { error in
            if case LedgerError.notInHistory(let id) = error { return id == "elsewhere" }
            return false
        }
        #expect { try Lineage.revertPlan(Self.lineage(3, reverts: [2: 0]), reverting: "c0") } throws: { error in
            if case LedgerError.alreadyReverted(let id) = error { return id == "c0" }
            return false
        }
    }
}
