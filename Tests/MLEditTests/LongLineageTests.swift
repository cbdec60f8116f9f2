// Long histories per lifelong method on the tiny-facts GPT-2 fixture: a lineage of 100 commits,
// one fact each, then a revert of a commit in the middle and a rebase of a side branch onto the
// tip. Exact means: the reverted fact answers as it did before its commit, no kept fact loses
// its landing, the same revert made again is the same commit, and fsck (which rebuilds the
// cached memory) finds nothing.
import Foundation
import Ledger
@testable import MLEdit
import Solvers
import Testing

@Suite("100-commit lineages per lifelong method", .serialized)
struct LongLineageTests {
    static let commitCount = 100

    struct Setting: CustomTestStringConvertible, Sendable {
        let method: EditMethod
        let nas: Bool
        var testDescription: String { nas ? "\(method.rawValue) with NAS" : method.rawValue }
    }

    static let settings = [Setting(method: .memit, nas: false), Setting(method: .encore, nas: false),
                           Setting(method: .alphaedit, nas: true), Setting(method: .ultraedit, nas: false)]

    @Test("100 commits, a revert in the middle and a rebase stay exact", arguments: settings)
    func longLineage(_ setting: Setting) throws {
        let box = try WorkspaceTests.Sandbox()
        defer { box.cleanUp() }
        let repository = box.workspace.repository
        let facts = try WorkspaceTests.facts(0..<150)
        var options = CommitOptions()
        options.method = setting.method
        options.alignTargetNorms = setting.nas
        options.health = nil
        // One fact a commit, recorded whether it lands or not (the tiny model cannot be made to say
        // every one of its facts): exactness is about what a replay keeps, not about landing.
        options.verify = false
        var next = 0
        func commitNext() throws -> CommitOutcome {
            options.message = "fact \(next)"
            next += 1
            return try box.workspace.commit(facts: [facts[next - 1]], options: options)
        }
        var ids: [String] = []
        while ids.count < Self.commitCount { ids.append(try commitNext().record.id) }
        #expect(try repository.lineage(of: "HEAD").count == Self.commitCount)
        var context = try EditContext.load(repository: repository, parentID: nil, session: box.workspace.session)
        let before = try ReplayVerification.check(commitID: ids.last!, context: &context)
        #expect(before.inForce == Self.commitCount && before.checked == Self.commitCount)
        let failingBefore = Set(before.notLanded.map(\.fact))

        // A side branch from commit 90 with one more fact, rebased onto the tip below.
        try repository.createBranch("side", at: ids[89])

        let middle = Self.commitCount / 2
        let revert = try box.workspace.revert(ids[middle])
        let verification = try #require(revert.verification)
        #expect(revert.resolvedCommits.count == Self.commitCount - middle - 1)
        #expect(verification.reverted == 1 && verification.revertedStillEdited.isEmpty, "\(verification.warnings)")
        #expect(verification.inForce == Self.commitCount - 1)
        // Re-solving 49 commits on other weights (for UltraEdit, from other running statistics) may
        // tip a borderline fact; a few (at most 5 of the 99 kept), not a collapse.
        let lost = Set(verification.notLanded.map(\.fact)).subtracting(failingBefore)
        #expect(lost.count <= 5, "landed before the revert, not after: \(lost.sorted())")

        // The same revert from the same head is the same commit.
        let head = try #require(try repository.head().commitID)
        try repository.updateRef("refs/heads/main", to: ids.last!, expecting: head, message: "test: undo the revert")
        #expect(try box.workspace.revert(ids[middle]).record.id == revert.record.id)

        try repository.checkout(branch: "side")
        let side = try commitNext()
        let sideSubject = try #require(side.edit.requests.first?.subject)
        guard case .replayed(_, _, let commits, _, let rebaseCheck) = try box.workspace.rebase(onto: "main") else {
            Issue.record("the rebase replayed nothing")
            return
        }
        #expect(commits.map(\.source.id) == [side.record.id])
        let afterRebase = try #require(rebaseCheck)
        #expect(afterRebase.inForce == Self.commitCount)
        let sideLandsAfterRebase = !afterRebase.notLanded.contains { $0.fact.contains(sideSubject) }
        #expect(sideLandsAfterRebase == side.edit.checks[0].landed, "\(afterRebase.warnings)")
        #expect(try box.workspace.fsck().isEmpty)
    }
}
