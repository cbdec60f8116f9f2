// The cached memory of the facts in force (Σ k kᵀ per layer) is derived data: the same bits as
// the sum rebuilt from every stored key, extended from an ancestor's entry, checked by fsck,
// passed over when damaged and dropped on request.
import Foundation
import Testing
import Tensors
@testable import Ledger

@Suite("Memory Gram cache")
struct MemoryGramTests {
    static let factsPerCommit = 15

    /// `count` commits on HEAD of `factsPerCommit` distinct facts each; their ids, oldest first.
    static func history(_ repository: Repository, commits count: Int) throws -> [String] {
        var parent = try repository.head().commitID
        var ids: [String] = []
        for c in 0..<count {
            let facts = (0..<factsPerCommit).map { Sample.fact(c * factsPerCommit + $0) }
            let record = try repository.writeCommit(Sample.draft(parent: parent, facts: facts, seed: UInt64(500 + c)))
            ids.append(record.id)
            parent = record.id
        }
        return ids
    }

    /// Σ k kᵀ at `layer` over every stored key of `ids` but `skipping` (commit, ordinal), as the
    /// solver receives the keys (rounded to Float), summed naively.
    static func naiveGram(_ repository: Repository, _ ids: [String], layer: Int, skipping: (String, Int)? = nil) throws -> Matrix<Double> {
        var gram: Matrix<Double>?
        for id in ids {
            for vectors in try repository.editVectors(of: id) where vectors.layer == layer {
                let d = vectors.keys.rows
                if gram == nil { gram = Matrix(rows: d, cols: d) }
                for j in 0..<vectors.keys.cols where !(skipping?.0 == id && skipping?.1 == j) {
                    for a in 0..<d {
                        for b in 0..<d { gram![a, b] += Double(Float(vectors.keys[a, j])) * Double(Float(vectors.keys[b, j])) }
                    }
                }
            }
        }
        return gram!
    }

    @Test("the cached sum has the bits of the rebuilt one, extends from an ancestor's entry and keeps two versions")
    func cacheEqualsRebuild() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let ids = try Self.history(repository, commits: 20)
        let below = Repository.memoryCacheMinimumFacts / Self.factsPerCommit - 1
        _ = try repository.memoryGrams(at: ids[below], layers: [0, 1])
        #expect(try repository.cachedMemoryGramKeys().isEmpty, "cached below the minimum")

        let first = try repository.memoryGrams(at: ids[17], layers: [0, 1])
        #expect(try repository.cachedMemoryGramKeys().map(\.commitID) == [ids[17], ids[17]])
        #expect(first[0]?.factCount == 18 * Self.factsPerCommit)

        let extended = try repository.memoryGrams(at: ids[19], layers: [0, 1])
        for layer in [0, 1] {
            let rebuilt = try #require(try repository.rebuiltMemoryGram(commitID: ids[19], layer: layer))
            #expect(extended[layer] == rebuilt, "layer \(layer): extended from the cache differs from the rebuild")
            #expect(extended[layer]?.factCount == 20 * Self.factsPerCommit)
            let naive = try Self.naiveGram(repository, ids, layer: layer)
            #expect(try #require(extended[layer]).gram.maxAbsDifference(naive) < 1e-9 * naive.frobeniusNorm)
            #expect(try repository.cachedMemoryGram(commitID: ids[19], layer: layer) == rebuilt)
        }
        _ = try repository.memoryGrams(at: ids[18], layers: [0, 1])
        #expect(Set(try repository.cachedMemoryGramKeys().map(\.commitID)) == [ids[18], ids[19]])

        // A superseded fact is left out of the sum, and such a sum is not cached.
        let entries = try repository.cachedMemoryGramKeys().count
        let excluded = try repository.memoryGrams(at: ids[19], layers: [0], excluding: [FactReference(commitID: ids[3], ordinal: 2)])
        #expect(excluded[0]?.factCount == 20 * Self.factsPerCommit - 1)
        let naive = try Self.naiveGram(repository, ids, layer: 0, skipping: (ids[3], 2))
        #expect(try #require(excluded[0]).gram.maxAbsDifference(naive) < 1e-9 * naive.frobeniusNorm)
        #expect(try repository.cachedMemoryGramKeys().count == entries)
        #expect(try repository.fsck() == [])
    }

    @Test("fsck reports a cached sum that differs or is damaged; the sum passes over it; dropping the cache clears it")
    func fsckAndDrop() throws {
        let directory = try TemporaryDirectory()
        let repository = try Sample.repository(in: directory)
        let ids = try Self.history(repository, commits: 18)
        let sound = try repository.memoryGrams(at: ids[17], layers: [0, 1])

        var wrong = try #require(sound[0]).gram
        wrong[1, 2] += 1
        wrong[2, 1] += 1
        let (blobs, checksum) = try MatrixBlob.encode([wrong], tag: "mledit-matrix-1", object: "test")
        try repository.database.execute("UPDATE memory_grams SET blob = ?1, sha256 = ?2 WHERE commit_id = ?3 AND layer = 0",
                                        [.blob(blobs[0]), .text(checksum), .text(ids[17])])
        try repository.database.execute("UPDATE memory_grams SET sha256 = ?1 WHERE commit_id = ?2 AND layer = 1",
                                        [.text(String(repeating: "0", count: 64)), .text(ids[17])])
        let problems = try repository.fsck().map(\.description)
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.contains { $0.contains("memory of \(ids[17]) layer 0") && $0.contains("differs from the sum rebuilt") }, "\(problems)")
        #expect(problems.contains { $0.contains("layer 1") && $0.contains("checksum mismatch") }, "\(problems)")

        // The damaged layer-1 entry is passed over, so the whole sum is rebuilt and re-cached.
        let again = try repository.memoryGrams(at: ids[17], layers: [0, 1])
        #expect(again == sound)
        #expect(try repository.fsck() == [])

        try repository.database.execute("UPDATE memory_grams SET blob = ?1, sha256 = ?2 WHERE commit_id = ?3 AND layer = 0",
                                        [.blob(blobs[0]), .text(checksum), .text(ids[17])])
        #expect(try repository.fsck().count == 1)
        try repository.dropMemoryGrams()
        #expect(try repository.cachedMemoryGramKeys().isEmpty)
        #expect(try repository.fsck() == [])
        #expect(try repository.memoryGrams(at: ids[17], layers: [0, 1]) == sound)
    }
}
