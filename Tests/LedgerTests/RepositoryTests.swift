// Repositories end to end: creating and opening, content-addressed commits, lineage facts,
// merge bases, materialization, caches, concurrent writers and fsck.
import Foundation
import Testing
import Tensors
@testable import Ledger

@Suite("Repository")
struct RepositoryTests {
    @Test("create makes HEAD an unborn main; open and discover find the ledger; create twice fails")
    func createAndOpen() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        #expect(try repository.head() == .branch("refs/heads/main", commitID: nil))
        #expect(throws: LedgerError.unbornBranch("main")) { try repository.resolve("HEAD") }
        #expect(try repository.baseModels().map(\.sha256) == [Sample.baseDigest])
        #expect(throws: LedgerError.self) { try Sample.repository(in: directory) }
        let nested = directory.url.appendingPathComponent("a/b")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        let found = try Repository.discover(from: nested)
        #expect(found.root.standardizedFileURL.path == directory.url.standardizedFileURL.path)
        let empty = try TemporaryDirectory()
        #expect(throws: LedgerError.self) { try Repository.open(at: empty.url) }
        // An init killed before its transaction committed leaves an empty file: not a
        // repository, and init may run again.
        let killed = try TemporaryDirectory()
        try FileManager.default.createDirectory(at: Repository.ledgerURL(in: killed.url).deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        _ = try Database(path: Repository.ledgerURL(in: killed.url).path)
        #expect(throws: LedgerError.repositoryNotFound(path: killed.url.path)) { try Repository.open(at: killed.url) }
        #expect(try Sample.repository(in: killed).head() == .branch("refs/heads/main", commitID: nil))
    }

    @Test("a commit stores facts, deltas and edit vectors and moves the branch with reflog rows")
    func writeAndRead() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let draft = Sample.draft(parent: nil, facts: [Sample.fact(1), Sample.fact(2)], seed: 1)
        let record = try repository.writeCommit(draft)
        #expect(try repository.head() == .branch("refs/heads/main", commitID: record.id))
        #expect(record.baseModelDigest == Sample.baseDigest && record.kind == .edit && record.method == "MEMIT")
        #expect(record.contextPrefixes == draft.contextPrefixes && record.hyperparameters == draft.hyperparameters)
        #expect(try repository.facts(of: record.id).map(\.fact) == draft.facts)
        let deltas = try repository.deltas(of: record.id)
        #expect(deltas.map(\.tensor) == ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"])
        #expect(deltas.allSatisfy { $0.rows == 6 && $0.cols == 5 && $0.rank == 2 && $0.precision == .f16 && $0.storedBytes > 0 })
        let decoded = try repository.decodeDelta(commit: record.id, tensor: "blk.1.ffn_down.weight")
        let exact = draft.deltas[1].u.multiplied(by: draft.deltas[1].v, transposeOther: true)
        #expect(decoded.dense().toDouble().maxAbsDifference(exact) <= 1e-2)
        #expect(try repository.editVectors(of: record.id) == draft.editVectors)
        #expect(try repository.reflog("main").map(\.newCommitID) == [record.id])
        #expect(try repository.reflog("HEAD").map(\.newCommitID) == [record.id])
        #expect(try repository.recomputeID(of: record.id) == record.id)
    }

    @Test("edit vectors are stored in the narrowest exact storage: q8_0 or f16 keys, and no values at all")
    func editVectorStorage() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        var draft = Sample.draft(parent: nil, facts: [Sample.fact(3), Sample.fact(4)], seed: 5)
        var generator = SeededGenerator(seed: 6)
        for i in draft.editVectors.indices {
            let keys = Matrix<Double>.gaussian(rows: 64, cols: 2, generator: &generator).toFloat()
            // The first tensor's keys rounded as commits round them, the second's only to f16.
            draft.editVectors[i].keys = i == 0 ? ColumnBlockQ8.rounded(keys).toDouble()
                : Matrix(rows: keys.rows, cols: keys.cols, values: keys.values.map {
                    Double(HalfPrecision.floatFromHalf(HalfPrecision.halfFromFloat($0)))
                })
            draft.editVectors[i].values = Matrix(rows: 0, cols: keys.cols)
        }
        let record = try repository.writeCommit(draft)
        #expect(try repository.editVectors(of: record.id) == draft.editVectors)
        let storages = try repository.database.query(
            "SELECT key_dtype, value_dtype FROM edit_vectors WHERE commit_id = ?1 ORDER BY tensor", [.text(record.id)]) {
            [try $0.string(0), try $0.string(1)]
        }
        #expect(storages == [["q8_0", "f16"], ["f16", "f16"]])
        #expect(try repository.fsck().isEmpty)
    }

    @Test("edit targets are stored with their commit, verified by fsck, and refused with a wrong shape")
    func editTargets() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let plain = try repository.writeCommit(Sample.draft(parent: nil, facts: [Sample.fact(7)], seed: 2))
        #expect(try repository.editTargets(of: plain.id) == nil)
        var generator = SeededGenerator(seed: 9)
        var draft = Sample.draft(parent: plain.id, facts: [Sample.fact(1), Sample.fact(2)], seed: 3)
        draft.editTargets = EditTargets(layer: 1, values: Matrix<Double>.gaussian(rows: 6, cols: 2, generator: &generator))
        let record = try repository.writeCommit(draft)
        #expect(try repository.editTargets(of: record.id) == draft.editTargets)
        #expect(try repository.fsck() == [])

        var wrong = Sample.draft(parent: record.id, facts: [Sample.fact(3)], seed: 4)
        wrong.editTargets = EditTargets(layer: 1, values: Matrix<Double>.gaussian(rows: 6, cols: 2, generator: &generator))
        #expect(throws: LedgerError.invalidCommit(reason: "edit targets have 2 columns for 1 facts")) { try repository.writeCommit(wrong) }

        try repository.database.execute("DROP TRIGGER edit_targets_are_immutable")
        try repository.database.execute("UPDATE edit_targets SET sha256 = ?1", [.text(String(repeating: "0", count: 64))])
        let problems = try repository.fsck().map(\.description)
        #expect(problems.contains { $0.hasPrefix("edit targets of \(record.id)") }, "\(problems)")
    }

    @Test("ids and blobs are the same for the same inputs in two repositories, whoever commits when")
    func determinism() throws {
        let first = try TemporaryDirectory(), second = try TemporaryDirectory()
        let a = try Sample.repository(in: first), b = try Sample.repository(in: second)
        let draftA = Sample.draft(parent: nil, facts: [Sample.fact(1)], seed: 5, message: "one", author: "alice")
        var draftB = Sample.draft(parent: nil, facts: [Sample.fact(1)], seed: 5, message: "other words", author: "bob")
        draftB.createdAt = "2001-01-01T00:00:00.000Z"
        let idA = try a.writeCommit(draftA).id, idB = try b.writeCommit(draftB).id
        #expect(idA == idB)
        let blobs = "SELECT u_blob, v_blob FROM deltas ORDER BY tensor"
        #expect(try a.database.query(blobs, []) { [try $0.blob(0), try $0.blob(1)] } == b.database.query(blobs, []) { [try $0.blob(0), try $0.blob(1)] })
        // Any hashed input changes the id.
        var changed = draftA
        changed.facts[0].targetNew = "Elsewhere"
        #expect(try a.storeCommit(changed).id != idA)
        var otherMethod = draftA
        otherMethod.method = "EMMET"
        #expect(try a.storeCommit(otherMethod).id != idA)
        // Writing the same content again reuses the commit.
        #expect(try a.storeCommit(draftA).id == idA)
        #expect(try a.allCommits().count == 3)
    }

    @Test("facts in a lineage: newer facts supersede, reverts take facts out, merge base")
    func lineageFacts() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let c1 = try repository.writeCommit(Sample.draft(parent: nil, facts: [Sample.fact(1), Sample.fact(2)], seed: 1))
        let c2 = try repository.writeCommit(Sample.draft(parent: c1.id, facts: [Sample.fact(3)], seed: 2))
        let c3 = try repository.writeCommit(Sample.draft(parent: c2.id, facts: [Sample.fact(1, target: "Rome")], seed: 3))
        #expect(try repository.lineage(of: "HEAD").map(\.id) == [c3.id, c2.id, c1.id])
        let stored = try repository.facts(of: c3.id)[0]
        #expect(stored.supersedes == FactReference(commitID: c1.id, ordinal: 0))
        var facts = try repository.facts(inLineageOf: "HEAD")
        #expect(facts.map(\.fact.targetNew) == ["City 2", "City 3", "Rome"])
        #expect(facts.last?.supersedes == FactReference(commitID: c1.id, ordinal: 0))

        var revert = Sample.draft(parent: c3.id, facts: [], seed: 4)
        revert.kind = .revert
        revert.revertedCommitID = c3.id
        let r = try repository.writeCommit(revert)
        facts = try repository.facts(inLineageOf: "HEAD")
        #expect(facts.map(\.fact.targetNew) == ["City 1", "City 2", "City 3"])
        #expect(facts.allSatisfy { $0.supersedes == nil })

        var revertRevert = Sample.draft(parent: r.id, facts: [], seed: 5)
        revertRevert.kind = .revert
        revertRevert.revertedCommitID = r.id
        try repository.writeCommit(revertRevert)
        #expect(try repository.facts(inLineageOf: "HEAD").map(\.fact.targetNew) == ["City 2", "City 3", "Rome"])

        // A revert must name a commit of its own lineage.
        try repository.createBranch("side", at: c1.id)
        try repository.checkout(branch: "side")
        let side = try repository.writeCommit(Sample.draft(parent: c1.id, facts: [Sample.fact(8)], seed: 8))
        var stray = Sample.draft(parent: side.id, facts: [], seed: 6)
        stray.kind = .revert
        stray.revertedCommitID = c3.id
        #expect(throws: LedgerError.self) { try repository.writeCommit(stray) }
        #expect(try repository.mergeBase("side", "main") == c1.id)
        #expect(try repository.mergeBase("main", "main~2") == c3.id)
        #expect(try repository.isAncestor(c1.id, of: "main"))
        #expect(try !repository.isAncestor(side.id, of: "main"))
    }

    @Test("a lineage stays on one base model; another base starts a new root")
    func baseModels() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let c1 = try repository.writeCommit(Sample.draft(parent: nil, facts: [Sample.fact(1)], seed: 1))
        let other = try repository.addBaseModel(Sample.baseModel(digest: Sample.otherBaseDigest))
        #expect(try repository.addBaseModel(Sample.baseModel(digest: Sample.otherBaseDigest)).id == other.id)
        #expect(throws: LedgerError.self) {
            try repository.storeCommit(Sample.draft(parent: c1.id, baseModelID: other.id, facts: [Sample.fact(2)], seed: 2))
        }
        var rebased = Sample.draft(parent: nil, baseModelID: other.id, facts: [Sample.fact(1)], seed: 3)
        rebased.kind = .rebase
        rebased.sourceCommitID = c1.id
        let record = try repository.storeCommit(rebased)
        #expect(record.baseModelDigest == Sample.otherBaseDigest && record.sourceCommitID == c1.id)
        try repository.createBranch("on-other", at: record.id)
        #expect(try repository.mergeBase("main", "on-other") == nil)
    }

    @Test("materializing a tensor equals the dense sum of the lineage's deltas")
    func materialization() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let commits = try Sample.chain(repository, count: 4)
        var generator = SeededGenerator(seed: 99)
        let base = Matrix<Float>.gaussian(rows: 6, cols: 5, generator: &generator)
        let tensor = "blk.1.ffn_down.weight"
        let result = try repository.materialize(tensor: tensor, base: base, at: "HEAD")
        var expected = base.toDouble()
        for commit in commits {
            let d = try repository.decodeDelta(commit: commit.id, tensor: tensor)
            expected = expected + d.u.toDouble().multiplied(by: d.v.toDouble(), transposeOther: true)
        }
        let worst = result.toDouble().maxAbsDifference(expected)
        #expect(worst <= 1e-5, "largest difference \(worst)")
        #expect(try repository.lineageDeltas(at: "HEAD~2")[tensor]?.count == 2)
        #expect(try repository.materialize(tensor: "not.edited", base: base, at: "HEAD") == base)
        #expect(throws: LedgerError.self) {
            try repository.materialize(tensor: tensor, base: Matrix<Float>(rows: 5, cols: 6), at: "HEAD")
        }
    }

    @Test("preservation statistics and evaluations are cached and read back")
    func caches() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        var generator = SeededGenerator(seed: 3)
        let k = Matrix<Double>.gaussian(rows: 12, cols: 30, generator: &generator)
        let c0 = (1.0 / 30) * k.multiplied(by: k, transposeOther: true)
        let key = PreservationKey(baseModelID: 1, tensor: "blk.0.ffn_down.weight", corpusDigest: SHA256.hash("corpus").hex, tokenCount: 30)
        #expect(try repository.preservationStatistics(key) == nil)
        try repository.putPreservationStatistics(c0, for: key)
        #expect(try repository.preservationStatistics(key) == c0)
        var otherCount = key
        otherCount.tokenCount = 31
        #expect(try repository.preservationStatistics(otherCount) == nil)
        #expect(try repository.preservationStatisticsKeys(baseModelID: 1) == [key])
        #expect(throws: LedgerError.self) { try repository.putPreservationStatistics(Matrix(rows: 2, cols: 3), for: key) }

        let commit = try Sample.chain(repository, count: 1)[0]
        let dataset = SHA256.hash("dataset").hex
        try repository.putEvaluation(commit: commit.id, datasetDigest: dataset, metrics: .object(["efficacy": .number(0.75)]))
        try repository.putEvaluation(commit: commit.id, datasetDigest: dataset, metrics: .object(["efficacy": .number(1)]))
        #expect(try repository.evaluations(of: commit.id).map(\.metrics) == [.object(["efficacy": .integer(1)])])
        #expect(try repository.evaluation(commit: commit.id, datasetDigest: dataset) != nil)
        #expect(throws: LedgerError.self) { try repository.putEvaluation(commit: commit.id, datasetDigest: dataset, metrics: .array([])) }
    }

    @Test("two connections on two threads commit at the same time: both land; a same-branch race has one winner")
    func concurrentWriters() throws {
        let directory = try TemporaryDirectory()
        let setup = try Sample.repository(in: directory)
        let root = try Sample.chain(setup, count: 1)[0]
        try setup.createBranch("a", at: root.id)
        try setup.createBranch("b", at: root.id)
        let url = directory.url
        let failures = LockedBox<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            do {
                let repository = try Repository.open(at: url)
                var parent = root.id
                for i in 0..<8 {
                    let draft = Sample.draft(parent: parent, facts: [Sample.fact(1000 * (worker + 1) + i)], seed: UInt64(1000 * (worker + 1) + i))
                    parent = try repository.writeCommit(draft, onBranch: worker == 0 ? "a" : "b").id
                }
            } catch {
                failures.withValue { $0.append("\(error)") }
            }
        }
        #expect(failures.withValue { $0 } == [])
        #expect(try setup.lineage(of: "a").count == 9)
        #expect(try setup.lineage(of: "b").count == 9)
        #expect(try setup.allCommits().count == 17)

        let outcomes = LockedBox<[String]>([])
        let tip = try setup.resolve("main")
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            do {
                let repository = try Repository.open(at: url)
                let draft = Sample.draft(parent: tip, facts: [Sample.fact(5000 + worker)], seed: UInt64(5000 + worker))
                _ = try repository.writeCommit(draft, onBranch: "main")
                outcomes.withValue { $0.append("ok") }
            } catch LedgerError.refConflict {
                outcomes.withValue { $0.append("conflict") }
            } catch {
                outcomes.withValue { $0.append("\(error)") }
            }
        }
        #expect(outcomes.withValue { $0.sorted() } == ["conflict", "ok"])
        #expect(try setup.lineage(of: "main").count == 2)
        #expect(try setup.fsck() == [])
    }

    @Test("fsck passes a sound ledger and reports a corrupted blob, a forged id and a dangling ref")
    func fsck() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let commits = try Sample.chain(repository, count: 3)
        try repository.putPreservationStatistics(Matrix<Double>.identity(4),
                                                 for: PreservationKey(baseModelID: 1, tensor: "t", corpusDigest: "c", tokenCount: 4))
        #expect(try repository.fsck() == [])

        // Tamper the way only someone bypassing mledit could: drop the guard, rewrite a blob.
        let database = repository.database
        try database.execute("DROP TRIGGER deltas_are_immutable")
        let encoded = try repository.encodedDelta(commit: commits[1].id, tensor: "blk.0.ffn_down.weight")
        var bytes = try BlobCodec.unpack(encoded.uBlob, count: encoded.rows * encoded.rank, type: .f16, object: "U")
        bytes[3] ^= 0x10
        try database.execute("UPDATE deltas SET u_blob = ?1 WHERE commit_id = ?2 AND tensor = ?3",
                             [.blob(try BlobCodec.pack(bytes, type: .f16, object: "U")), .text(commits[1].id), .text("blk.0.ffn_down.weight")])
        try database.execute("UPDATE preservation_stats SET blob = ?1", [.blob([1, 2, 3])])
        try database.execute("DROP TRIGGER facts_are_immutable")
        try database.execute("UPDATE facts SET target_new = 'forged' WHERE commit_id = ?1", [.text(commits[2].id)])
        try database.execute("PRAGMA foreign_keys = OFF")
        try database.execute("UPDATE refs SET commit_id = ?1 WHERE name = 'refs/heads/main'", [.text(String(repeating: "e", count: 64))])
        try database.execute("PRAGMA foreign_keys = ON")

        let problems = try repository.fsck()
        let text = problems.map(\.description)
        #expect(text.contains { $0.hasPrefix("delta \(commits[1].id)/blk.0.ffn_down.weight") && $0.contains("checksum mismatch") }, "\(text)")
        #expect(text.contains { $0.hasPrefix("commit \(commits[2].id)") && $0.contains("content hashes to") }, "\(text)")
        #expect(text.contains { $0.hasPrefix("preservation statistics t") }, "\(text)")
        #expect(text.contains { $0.hasPrefix("ref refs/heads/main") && $0.contains("missing commit") }, "\(text)")
        #expect(text.contains { $0.contains("foreign_key_check") }, "\(text)")
        #expect(throws: LedgerError.self) { try repository.decodeDelta(commit: commits[1].id, tensor: "blk.0.ffn_down.weight") }
    }

    @Test("invalid drafts are refused with a clear error")
    func invalidDrafts() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        var noFacts = Sample.draft(parent: nil, facts: [], seed: 1)
        noFacts.facts = []
        #expect(throws: LedgerError.invalidCommit(reason: "an edit commit needs at least one fact")) { try repository.writeCommit(noFacts) }
        var duplicate = Sample.draft(parent: nil, facts: [Sample.fact(1)], seed: 1)
        duplicate.deltas.append(duplicate.deltas[0])
        #expect(throws: LedgerError.self) { try repository.writeCommit(duplicate) }
        var revertWithoutTarget = Sample.draft(parent: nil, facts: [], seed: 1)
        revertWithoutTarget.kind = .revert
        #expect(throws: LedgerError.self) { try repository.writeCommit(revertWithoutTarget) }
        var unknownBase = Sample.draft(parent: nil, baseModelID: 42, facts: [Sample.fact(1)], seed: 1)
        unknownBase.message = "x"
        #expect(throws: LedgerError.baseModelNotFound("#42")) { try repository.writeCommit(unknownBase) }
        #expect(try repository.allCommits().isEmpty)
        #expect(try repository.head().commitID == nil)
    }
}
