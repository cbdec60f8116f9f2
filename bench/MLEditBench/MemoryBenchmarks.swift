// What the memory of the facts in force costs one MEMIT commit as a history grows: gathering every
// earlier key and solving with K_p (how commits held earlier facts before the Gram cache), against
// the accumulated G = Σ k kᵀ rebuilt from the keys, extended from the parent's cached entry by one
// commit, or read back. Histories of SmolLM2's shape (keys 1536 wide on 5 layers, 100 facts a
// commit) written through the Ledger API with random keys: the costs depend on shapes, not values.
import Foundation
import Ledger
import Solvers
import Tensors

extension Benchmarks {
    static func memoryCost(_ arguments: [String]) throws -> [String: Any] {
        let ladder = (ProcessInfo.processInfo.environment["MLEDIT_BENCH_MEMORY_FACTS"] ?? "100,1000,10000")
            .split(separator: ",").compactMap { Int($0) }
        let perCommit = 100, batch = 10
        var generator = SeededGenerator(seed: 17)
        let (repository, root) = try scratchRepository()
        defer { try? FileManager.default.removeItem(at: root) }
        let moment = Matrix<Double>.identity(smolCols)
        let newKeys = Matrix<Double>.gaussian(rows: smolCols, cols: batch, generator: &generator)
        let residual = Matrix<Double>.gaussian(rows: smolRows, cols: batch, generator: &generator)
        func solveAll(previousKeys: [Int: Matrix<Double>] = [:], grams: [Int: Matrix<Double>] = [:]) throws {
            for layer in smolLayers {
                let problem = PreservationProblem(layer: layer, residual: residual, keys: newKeys, previousKeys: previousKeys[layer],
                                                  previousGram: grams[layer], moment: moment, factLabels: [])
                _ = try PreservationSolver.memit(problem, preservationWeight: 15000)
            }
        }

        var parent: String?, tipParent: String?, inForce = 0
        var rows: [[String: Any]] = []
        for target in ladder {
            var writeSeconds = 0.0
            while inForce < target {
                let draft = smolDraft(parent: parent, facts: perCommit, index: inForce / perCommit, vectors: true, generator: &generator)
                let (record, seconds) = try Measure.seconds { try repository.writeCommit(draft) }
                writeSeconds += seconds
                tipParent = parent
                parent = record.id
                inForce += perCommit
            }
            guard let tip = parent else { continue }
            FileHandle.standardError.write(Data("memory-cost: \(inForce) facts in force\n".utf8))

            // Every earlier key gathered as columns, then MEMIT with K_p K_pᵀ formed in the solve.
            let (keys, gatherSeconds) = try Measure.seconds { () -> [Int: Matrix<Double>] in
                var columns: [Int: [[Double]]] = [:]
                var byCommit: [String: [EditVectors]] = [:]
                for record in try repository.facts(inLineageOf: tip) {
                    if byCommit[record.commitID] == nil { byCommit[record.commitID] = try repository.editVectors(of: record.commitID) }
                    for vectors in byCommit[record.commitID] ?? [] { columns[vectors.layer, default: []].append(vectors.keys.column(record.ordinal)) }
                }
                return columns.mapValues { list in
                    var matrix = Matrix<Double>(rows: list[0].count, cols: list.count)
                    for (j, key) in list.enumerated() { matrix.setColumn(j, key.map { Double(Float($0)) }) }
                    return matrix
                }
            }
            let keysSolveSeconds = try Measure.seconds { try solveAll(previousKeys: keys) }.1

            // G: rebuilt from every key; extended from the parent's entry by the tip's commit (what
            // the next commit on a branch does); read back whole.
            try repository.dropMemoryGrams()
            let (rebuilt, rebuildSeconds) = try Measure.seconds { try repository.memoryGrams(at: tip, layers: smolLayers) }
            try repository.dropMemoryGrams()
            if let tipParent { _ = try repository.memoryGrams(at: tipParent, layers: smolLayers) }
            let extendSeconds = try Measure.seconds { _ = try repository.memoryGrams(at: tip, layers: smolLayers) }.1
            let readSeconds = try Measure.seconds { _ = try repository.memoryGrams(at: tip, layers: smolLayers) }.1
            let grams = rebuilt.mapValues(\.gram)
            let gramSolveSeconds = try Measure.seconds { try solveAll(grams: grams) }.1
            try repository.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rows.append([
                "facts_in_force": inForce, "commits": inForce / perCommit,
                "cache_used": inForce >= Repository.memoryCacheMinimumFacts,
                "keys_gather_s": gatherSeconds, "keys_solve_s": keysSolveSeconds,
                "gram_rebuild_s": rebuildSeconds, "gram_extend_s": extendSeconds, "gram_read_s": readSeconds,
                "gram_solve_s": gramSolveSeconds,
                "write_s_per_commit": writeSeconds / Double(max(1, (target - (rows.last?["facts_in_force"] as? Int ?? 0)) / perCommit)),
                "ledger_bytes_per_fact": Double(fileSize(repository.ledgerURL.path)) / Double(inForce),
            ])
        }
        return ["shape": "keys \(smolCols) wide, values \(smolRows), \(smolLayers.count) layers, \(perCommit) facts a commit, new batch \(batch)",
                "by_facts_in_force": rows]
    }
}

extension Benchmarks {
    /// `grow-history REPOSITORY FACTS [PER_COMMIT]`: appends synthetic commits of PER_COMMIT facts
    /// (default 100) to HEAD's branch until FACTS synthetic facts are in force, for
    /// history-cost.sh and long-history.sh to time real commands on. Each
    /// has SmolLM2-shaped deltas on layers 3–7 small enough to leave the model's answers alone
    /// (‖Σ U Vᵀ‖ per element ~1e-4 at 10,000 facts) and keys drawn from N(0, C₀) with the C₀ the
    /// ledger holds, so that the memory weighs in the solve as real keys do.
    static func growHistory(_ arguments: [String]) throws -> [String: Any] {
        guard (2...3).contains(arguments.count), let target = Int(arguments[1]),
              let perCommit = arguments.count == 3 ? Int(arguments[2]) : 100, perCommit > 0 else {
            throw BenchmarkFailure("usage: MLEditBench grow-history REPOSITORY FACTS [PER_COMMIT]")
        }
        let repository = try Repository.open(at: URL(fileURLWithPath: arguments[0]))
        let head = try repository.headCommit()
        let baseModelID = try repository.commit(head).baseModelID
        let synthetic = try repository.facts(inLineageOf: head).filter { $0.fact.subject.hasPrefix("Synthetic ") }.count
        if synthetic >= target { return ["facts_in_force": synthetic, "written": 0] }

        // Per layer, S with S Sᵀ = C₀ (eigenvectors scaled by √λ), from the ledger's statistics.
        let rows = try repository.database.query(
            "SELECT tensor, corpus_digest, token_count FROM preservation_stats WHERE base_model_id = ?1", [.integer(baseModelID)]) {
            (try $0.string(0), try $0.string(1), try $0.int(2))
        }
        var roots: [Int: Matrix<Double>] = [:]
        for layer in smolLayers {
            guard let row = rows.first(where: { $0.0 == smolTensor(layer) }),
                  let moment = try repository.preservationStatistics(
                    PreservationKey(baseModelID: baseModelID, tensor: row.0, corpusDigest: row.1, tokenCount: row.2)) else {
                throw BenchmarkFailure("no statistics for \(smolTensor(layer)) in the ledger: commit a real fact first")
            }
            let eigen = try SymmetricEigenDecomposition(moment)
            var root = eigen.eigenvectors
            for j in 0..<root.cols {
                let scale = max(eigen.eigenvalues[j], 0).squareRoot()
                for i in 0..<root.rows { root[i, j] *= scale }
            }
            roots[layer] = root
        }

        var generator = SeededGenerator(seed: UInt64(10_000 + synthetic))
        var parent = head, count = synthetic, written = 0
        while count < target {
            let deltas = smolLayers.map { layer in
                DeltaInput(tensor: smolTensor(layer), layer: layer,
                           u: Matrix<Double>.gaussian(rows: smolRows, cols: perCommit, generator: &generator).map { $0 * 1e-3 },
                           v: Matrix<Double>.gaussian(rows: smolCols, cols: perCommit, generator: &generator).map { $0 * 1e-3 })
            }
            let vectors = smolLayers.map { layer in
                EditVectors(tensor: smolTensor(layer), layer: layer,
                            keys: roots[layer]!.multiplied(by: Matrix<Double>.gaussian(rows: smolCols, cols: perCommit, generator: &generator)),
                            values: Matrix<Double>.gaussian(rows: smolRows, cols: perCommit, generator: &generator).map { $0 * 0.1 })
            }
            let facts = (0..<perCommit).map {
                Fact(subject: "Synthetic \(count + $0)", prompt: "{} is located in", targetNew: " Paris", targetTrue: " Rome")
            }
            let record = try repository.writeCommit(CommitDraft(
                parentID: parent, baseModelID: baseModelID, method: "memit", facts: facts, deltas: deltas,
                editVectors: vectors, message: "synthetic \(count)–\(count + perCommit - 1)", author: "bench"))
            parent = record.id
            count += perCommit
            written += 1
        }
        return ["facts_in_force": count, "written": written, "head": parent]
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
