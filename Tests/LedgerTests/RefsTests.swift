// Refs and revisions: parsing (ids, prefixes, ambiguity, names, ~N, ^), compare-and-swap moves,
// branches, tags, checkout and detached HEAD.
import Foundation
import Testing
import Tensors
@testable import Ledger

@Suite("Refs and revisions")
struct RefsTests {
    @Test("revisions: full ids, prefixes, ambiguity, names, HEAD, ~N and ^")
    func revisions() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let commits = try Sample.chain(repository, count: 40)
        let tip = commits[39].id
        #expect(try repository.resolve("HEAD") == tip)
        #expect(try repository.resolve("main") == tip)
        #expect(try repository.resolve("refs/heads/main") == tip)
        #expect(try repository.resolve(tip) == tip)
        #expect(try repository.resolve(tip.uppercased()) == tip)
        #expect(try repository.resolve("HEAD~1") == commits[38].id)
        #expect(try repository.resolve("main~3") == commits[36].id)
        #expect(try repository.resolve("HEAD^") == commits[38].id)
        #expect(try repository.resolve("HEAD~") == commits[38].id)
        #expect(try repository.resolve("HEAD~2^") == commits[36].id)
        #expect(try repository.resolve("HEAD~39") == commits[0].id)
        #expect(throws: LedgerError.ancestorOutOfRange(revision: "HEAD~40", requested: 40, available: 39)) { try repository.resolve("HEAD~40") }
        #expect(throws: LedgerError.unknownRevision("HEAD~x")) { try repository.resolve("HEAD~x") }
        try repository.createTag("v1", at: commits[10].id)
        #expect(try repository.resolve("v1") == commits[10].id)
        #expect(try repository.resolve("v1~2") == commits[8].id)
        // Unique prefixes resolve; a prefix shared by two commits is ambiguous and lists them.
        let ids = commits.map(\.id)
        for id in ids {
            let unique = (4...64).first { n in ids.filter { $0.hasPrefix(id.prefix(n)) }.count == 1 }!
            #expect(try repository.resolve(String(id.prefix(unique))) == id)
        }
        let shared = Dictionary(grouping: ids, by: { String($0.prefix(1)) }).first { $0.value.count > 1 }!
        let common = shared.value[0].commonPrefix(with: shared.value[1])
        if common.count >= 4 {
            #expect(throws: LedgerError.self) { try repository.resolve(common) }
        }
        // 40 commits over 16 first digits: some digit is shared, but 1–3 digits are too short.
        #expect(throws: LedgerError.unknownRevision(shared.key)) { try repository.resolve(shared.key) }
        let absent = try #require(["ffffffff", "eeeeeeee", "dddddddd"].first { p in !ids.contains { $0.hasPrefix(p) } })
        #expect(throws: LedgerError.unknownRevision(absent)) { try repository.resolve(absent) }
        #expect(throws: LedgerError.unknownRevision("nosuchbranch")) { try repository.resolve("nosuchbranch") }
    }

    @Test("an ambiguous prefix names the candidates")
    func ambiguousPrefix() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        // Root commits with different facts until two ids share their first 4 hex digits
        // (expected after about 320 by the birthday bound).
        var seen: [String: String] = [:]
        var pair: (String, String)?
        var seed: UInt64 = 1
        while pair == nil {
            let record = try repository.storeCommit(Sample.draft(parent: nil, facts: [Sample.fact(Int(seed))], seed: seed, tensors: ["t"]))
            let key = String(record.id.prefix(4))
            if let other = seen[key] { pair = (other, record.id) }
            seen[key] = record.id
            seed += 1
            if seed > 3000 { break }
        }
        let (first, second) = try #require(pair)
        let prefix = first.commonPrefix(with: second)
        #expect {
            try repository.resolve(prefix)
        } throws: { error in
            guard case LedgerError.ambiguousRevision(let revision, let candidates) = error else { return false }
            return revision == prefix && candidates.contains(first) && candidates.contains(second)
        }
        #expect(try repository.resolve(String(first.prefix(prefix.count + 1))) == first)
    }

    @Test("compare-and-swap: a stale expectation is a conflict and changes nothing")
    func compareAndSwap() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let commits = try Sample.chain(repository, count: 3)
        #expect(throws: LedgerError.refConflict(ref: "refs/heads/main", expected: commits[0].id, actual: commits[2].id)) {
            try repository.updateRef("main", to: commits[1].id, expecting: commits[0].id, message: "stale")
        }
        #expect(try repository.resolve("main") == commits[2].id)
        try repository.updateRef("main", to: commits[1].id, expecting: commits[2].id, message: "reset: back one")
        #expect(try repository.resolve("main") == commits[1].id)
        #expect(try repository.reflog("main").last?.message == "reset: back one")
        // A commit whose parent is not the branch tip is refused before anything is written.
        let before = try repository.allCommits().count
        #expect(throws: LedgerError.self) {
            try repository.writeCommit(Sample.draft(parent: commits[0].id, facts: [Sample.fact(77)], seed: 77))
        }
        #expect(try repository.allCommits().count == before)
        #expect(throws: LedgerError.self) { try repository.updateRef("main", to: String(repeating: "a", count: 64), expecting: commits[1].id, message: "x") }
    }

    @Test("branches, tags, checkout and detached HEAD")
    func branchesAndTags() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let commits = try Sample.chain(repository, count: 2)
        try repository.createBranch("topic", at: commits[0].id)
        #expect(throws: LedgerError.refExists("refs/heads/topic")) { try repository.createBranch("topic", at: commits[1].id) }
        #expect(throws: LedgerError.self) { try repository.createBranch("bad name", at: commits[1].id) }
        #expect(throws: LedgerError.self) { try repository.createBranch("x~1", at: commits[1].id) }
        try repository.checkout(branch: "topic")
        #expect(try repository.head() == .branch("refs/heads/topic", commitID: commits[0].id))
        let onTopic = try repository.writeCommit(Sample.draft(parent: commits[0].id, facts: [Sample.fact(9)], seed: 9))
        #expect(try repository.resolve("topic") == onTopic.id)
        #expect(try repository.resolve("main") == commits[1].id)
        #expect(throws: LedgerError.self) { try repository.deleteBranch("topic") }
        try repository.detachHead(at: commits[1].id)
        #expect(try repository.head() == .detached(commits[1].id))
        let detached = try repository.writeCommit(Sample.draft(parent: commits[1].id, facts: [Sample.fact(10)], seed: 10))
        #expect(try repository.head() == .detached(detached.id))
        #expect(try repository.resolve("main") == commits[1].id)
        try repository.deleteBranch("topic")
        #expect(try repository.branches().map(\.shortName) == ["main"])
        try repository.createTag("release", at: commits[0].id)
        #expect(try repository.tags().map(\.commitID) == [commits[0].id])
        try repository.deleteTag("release")
        #expect(try repository.tags().isEmpty)
        #expect(try repository.reflog("HEAD").count >= 4)
    }
}
