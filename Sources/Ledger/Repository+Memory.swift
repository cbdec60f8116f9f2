// The memory of the facts in force as accumulated Gram matrices: G = Σ k kᵀ over the stored keys
// of every fact in force at a version, per edit layer, which is all MEMIT and AlphaEdit need of
// earlier facts. The sum has one order — commit by commit along the lineage, oldest first, each
// commit's facts in ordinal order, as `facts(inLineageOf:)` lists them — so G taken from the cache
// of an ancestor and extended by the newer commits' keys has the same bits as G rebuilt from every
// key. That makes the cache (table memory_grams) derived data: results never depend on whether it
// was there.
import Foundation
import Tensors

/// G = Σ k kᵀ over the keys of `factCount` facts at one layer (d_in × d_in, symmetric).
public struct MemoryGram: Sendable, Equatable {
    public var layer: Int
    public var factCount: Int
    public var gram: Matrix<Double>

    public init(layer: Int, factCount: Int, gram: Matrix<Double>) {
        self.layer = layer
        self.factCount = factCount
        self.gram = gram
    }
}

extension Repository {
    /// Below this many facts in force G is rebuilt from the keys (cheaper than reading a cached
    /// d_in × d_in matrix per layer); from it on, G is cached for the version it was asked for.
    public static let memoryCacheMinimumFacts = 256
    /// How many versions keep their cached G; older entries are dropped when a new one is written.
    public static let memoryCacheVersions = 2

    /// G at every layer of `layers` for the facts in force at `commitID`, leaving out `excluded`
    /// (facts a new commit supersedes). Layers where no fact in force stored keys are absent.
    /// Keys are used as the solver receives them (rounded to Float). Uses and refreshes the cache
    /// when nothing is excluded; a damaged cache entry is passed over.
    /// - Throws: ledger errors, `.checksumMismatch` and `.malformedBlob` for damaged edit vectors.
    public func memoryGrams(at commitID: String, layers: [Int], excluding excluded: Set<FactReference> = []) throws -> [Int: MemoryGram] {
        let lineage = try lineageIDs(from: commitID)
        let inForce = try activeFacts(lineage: lineage)
        let kept = inForce.filter { !excluded.contains($0.reference) }
        let groups = Self.memoryGroups(kept)
        if groups.isEmpty { return [:] }
        let cacheable = kept.count == inForce.count && kept.count >= Self.memoryCacheMinimumFacts
        var start = (grams: [Int: MemoryGram](), groupsDone: 0)
        if cacheable, let cached = try cachedMemoryStart(lineage: lineage, groups: groups, layers: layers) { start = cached }
        let grams = try extend(start.grams, with: groups[start.groupsDone...], layers: layers)
        if cacheable && start.groupsDone < groups.count { try cacheMemoryGrams(grams, commitID: commitID) }
        return grams
    }

    /// The facts of `records` as (commit, ordinals) in the order of the sum.
    static func memoryGroups(_ records: [FactRecord]) -> [(commitID: String, ordinals: [Int])] {
        var groups: [(commitID: String, ordinals: [Int])] = []
        for record in records {
            if groups.last?.commitID == record.commitID {
                groups[groups.count - 1].ordinals.append(record.ordinal)
            } else {
                groups.append((record.commitID, [record.ordinal]))
            }
        }
        return groups
    }

    /// The newest version of `lineage` with G cached at every layer whose sum is a prefix of
    /// `groups`, and how many groups that prefix covers.
    private func cachedMemoryStart(lineage: [String], groups: [(commitID: String, ordinals: [Int])],
                                   layers: [Int]) throws -> (grams: [Int: MemoryGram], groupsDone: Int)? {
        let cachedIDs = Set(try database.query("SELECT DISTINCT commit_id FROM memory_grams") { try $0.string(0) })
        for (depth, id) in lineage.enumerated() where cachedIDs.contains(id) {
            let prefix = Self.memoryGroups(try activeFacts(lineage: Array(lineage[depth...])))
            guard prefix.count <= groups.count,
                  zip(prefix, groups).allSatisfy({ $0.commitID == $1.commitID && $0.ordinals == $1.ordinals }) else { continue }
            var grams: [Int: MemoryGram] = [:]
            do {
                for layer in layers {
                    if let gram = try cachedMemoryGram(commitID: id, layer: layer) { grams[layer] = gram }
                }
            } catch LedgerError.checksumMismatch, LedgerError.malformedBlob {
                // A damaged entry is derived data: sum from an older start instead (fsck reports it).
                continue
            }
            // A layer the version had no keys for has no row; one it had keys for must have one.
            let uncached = Set(layers).subtracting(grams.keys)
            if try !uncached.isEmpty && !layersWithKeys(prefix).isDisjoint(with: uncached) { continue }
            return (grams, prefix.count)
        }
        return nil
    }

    /// The layers at which the commits of `groups` stored keys.
    private func layersWithKeys(_ groups: [(commitID: String, ordinals: [Int])]) throws -> Set<Int> {
        var layers = Set<Int>()
        for group in groups {
            layers.formUnion(try database.query("SELECT layer FROM edit_vectors WHERE commit_id = ?1", [.text(group.commitID)]) { try $0.int(0) })
        }
        return layers
    }

    /// `start` plus Σ k kᵀ of the keys of `groups`, group after group; the layers run side by side.
    private func extend(_ start: [Int: MemoryGram], with groups: ArraySlice<(commitID: String, ordinals: [Int])>,
                        layers: [Int]) throws -> [Int: MemoryGram] {
        // Per layer, each group's keys as rows (n × d_in), in the order of the sum.
        var blocks: [Int: [Matrix<Double>]] = [:]
        for group in groups {
            for vectors in try editVectors(of: group.commitID) where layers.contains(vectors.layer) {
                let ordinals = group.ordinals.filter { $0 < vectors.keys.cols }
                if ordinals.isEmpty { continue }
                var block = Matrix<Double>(rows: ordinals.count, cols: vectors.keys.rows)
                for (row, ordinal) in ordinals.enumerated() {
                    for i in 0..<vectors.keys.rows { block[row, i] = Double(Float(vectors.keys[i, ordinal])) }
                }
                blocks[vectors.layer, default: []].append(block)
            }
        }
        let order = Set(layers).union(start.keys).sorted()
        let results = ComputeThreads.map(order.count) { index -> MemoryGram? in
            let layer = order[index]
            let added = blocks[layer] ?? []
            guard let dimension = start[layer]?.gram.rows ?? added.first?.cols else { return nil }
            var gram = start[layer]?.gram ?? Matrix<Double>(rows: dimension, cols: dimension)
            var count = start[layer]?.factCount ?? 0
            for block in added {
                gram.addUpperGram(of: block)
                count += block.rows
            }
            gram.mirrorUpper()
            return MemoryGram(layer: layer, factCount: count, gram: gram)
        }
        var out: [Int: MemoryGram] = [:]
        for case let gram? in results { out[gram.layer] = gram }
        return out
    }

    /// The cached G of `commitID` at `layer`, verified; nil when not cached.
    /// - Throws: `LedgerError.checksumMismatch`, `.malformedBlob`.
    public func cachedMemoryGram(commitID: String, layer: Int) throws -> MemoryGram? {
        guard let (count, dimension, checksum, blob) = try database.queryFirst("""
            SELECT fact_count, dimension, sha256, blob FROM memory_grams WHERE commit_id = ?1 AND layer = ?2
            """, [.text(commitID), .integer(Int64(layer))], { (try $0.int(0), try $0.int(1), try $0.string(2), try $0.blob(3)) })
        else { return nil }
        let gram = try MatrixBlob.decode([blob], shapes: [(dimension, dimension)], tag: "mledit-matrix-1", checksum: checksum,
                                         object: "memory of \(commitID.prefix(12)) layer \(layer)")[0]
        return MemoryGram(layer: layer, factCount: count, gram: gram)
    }

    /// The (commit, layer) pairs the cache holds.
    public func cachedMemoryGramKeys() throws -> [(commitID: String, layer: Int)] {
        try database.query("SELECT commit_id, layer FROM memory_grams ORDER BY commit_id, layer") { (try $0.string(0), try $0.int(1)) }
    }

    /// G rebuilt from the stored keys alone, for fsck to compare a cached entry with.
    public func rebuiltMemoryGram(commitID: String, layer: Int) throws -> MemoryGram? {
        let groups = Self.memoryGroups(try activeFacts(lineage: try lineageIDs(from: commitID)))
        return try extend([:], with: groups[...], layers: [layer])[layer]
    }

    /// Drops every cached G (derived data; rebuilt on demand).
    public func dropMemoryGrams() throws {
        try database.transaction { try database.execute("DELETE FROM memory_grams") }
    }

    /// Stores `grams` as the cache of `commitID` and drops the entries of all but the newest
    /// `memoryCacheVersions` versions, in one transaction.
    private func cacheMemoryGrams(_ grams: [Int: MemoryGram], commitID: String) throws {
        let entries = grams.values.sorted { $0.layer < $1.layer }
        let encoded = ComputeThreads.map(entries.count) { i in
            Result { try MatrixBlob.encode([entries[i].gram], tag: "mledit-matrix-1", object: "memory layer \(entries[i].layer)") }
        }
        let blobs = try encoded.map { try $0.get() }
        try database.transaction {
            try database.execute("DELETE FROM memory_grams WHERE commit_id = ?1", [.text(commitID)])
            for (entry, (blob, checksum)) in zip(entries, blobs) {
                try database.execute("""
                    INSERT INTO memory_grams (commit_id, layer, fact_count, dimension, sha256, blob, created_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                    """, [.text(commitID), .integer(Int64(entry.layer)), .integer(Int64(entry.factCount)),
                          .integer(Int64(entry.gram.rows)), .text(checksum), .blob(blob[0]), .text(Repository.timestamp())])
            }
            try database.execute("""
                DELETE FROM memory_grams WHERE commit_id NOT IN (
                    SELECT commit_id FROM memory_grams GROUP BY commit_id ORDER BY MAX(rowid) DESC LIMIT ?1)
                """, [.integer(Int64(Self.memoryCacheVersions))])
        }
    }
}
