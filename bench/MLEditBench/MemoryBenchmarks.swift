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
