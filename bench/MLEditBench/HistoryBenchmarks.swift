// History benchmarks on the default model, driven in-process through the MLEdit library (each
// call timed): `revert` (a lineage of MEMIT commits with one
// reverted, against the base model and a fresh repository holding only the kept facts) and
// `rebase-model` (a lineage replayed onto a Q8_0 re-quantization of the base). Facts are real
// CounterFact records. These are measurements, not tests: nothing here asserts an outcome.
import Checkpoints
import Foundation
import MLEdit
import Models
import Solvers

/// One repository driven through the MLEdit library, each call timed (wall clock and CPU), its
/// notes captured.
final class LibraryDriver {
    final class Capture: @unchecked Sendable {
        private let lock = NSLock()
        private var text = ""
        func append(_ piece: String) { lock.lock(); text += piece; lock.unlock() }
        func take() -> String { lock.lock(); defer { text = ""; lock.unlock() }; return text }
    }

    let directory: URL
    let session: Session
    private let notes = Capture()
    private var workspace: Workspace?
    /// CPU seconds of the last call (the machine's load does not inflate them).
    private(set) var lastCPUSeconds = 0.0

    init(directory: URL) {
        self.directory = directory
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "MLEDIT_DIR")
        environment["MLEDIT_AUTHOR"] = "bench"
        let notes = self.notes
        session = Session(environment: environment, currentDirectory: directory, note: { notes.append($0 + "\n") })
    }

    /// CPU seconds (user + system) this process has used so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Runs `body`, returning its value, wall-clock seconds and the notes it made.
    func timed<T>(_ body: () throws -> T) throws -> (value: T, seconds: Double, notes: String) {
        let cpuBefore = Self.processCPUSeconds()
        _ = notes.take()
        let (value, seconds) = try Measure.seconds(body)
        lastCPUSeconds = Self.processCPUSeconds() - cpuBefore
        return (value, seconds, notes.take())
    }

    func repository() throws -> Workspace {
        guard let workspace else { throw BenchmarkFailure("\(directory.path): no repository created yet") }
        return workspace
    }

    /// `mledit init --model` here.
    func create(model: URL) throws {
        workspace = try Workspace.create(model: model, at: directory, session: session)
    }

    /// `mledit commit FILE --method M -m MESSAGE`.
    func commit(_ file: String, method: EditMethod, message: String) throws -> (value: CommitOutcome, seconds: Double, notes: String) {
        let workspace = try repository()
        let facts = try Workspace.facts(file: URL(fileURLWithPath: file))
        var options = CommitOptions()
        options.method = method
        options.message = message
        return try timed { try workspace.commit(facts: facts, factsFile: file, options: options) }
    }

    /// The CounterFact metrics of the facts of `file` at `revision`, as `mledit eval --json` prints them.
    func evaluate(_ file: String, at revision: String = "HEAD") throws -> (value: [String: Any], seconds: Double, notes: String) {
        let workspace = try repository()
        let facts = try Workspace.facts(file: URL(fileURLWithPath: file), allowDuplicates: true)
        return try timed { try workspace.evaluate(facts, at: revision).jsonObject(includeFacts: true) }
    }

    /// The same metrics on the checkpoint at `model` as it is (`mledit eval --model`).
    func evaluate(_ file: String, model: URL) throws -> (value: [String: Any], seconds: Double, notes: String) {
        let facts = try Workspace.facts(file: URL(fileURLWithPath: file), allowDuplicates: true)
        return try timed {
            let loaded = try ModelLoader.load(url: model)
            return try Evaluation.counterFact(facts, model: loaded, tokenizer: try ModelResolution.tokenizer(for: model), session: session)
                .jsonObject(includeFacts: true)
        }
    }
}

/// CounterFact records, and files holding subsets of them.
struct CounterFactRecords {
    let records: [[String: Any]]

    /// Argument 2 (after the model), else MLEDIT_FACTS, else ../shared/data/counterfact-partial.json
    /// relative to the current directory (bench/run.sh runs from the repository root).
    static func url(_ arguments: [String]) -> URL {
        if arguments.count > 1 { return URL(fileURLWithPath: arguments[1]) }
        if let path = ProcessInfo.processInfo.environment["MLEDIT_FACTS"], !path.isEmpty { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent("../shared/data/counterfact-partial.json").standardizedFileURL
    }

    /// The first `count` records from `start` on whose subjects are all different.
    init(url: URL, start: Int, count: Int) throws {
        guard let all = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]] else {
            throw BenchmarkFailure("\(url.path): not a JSON array of CounterFact records")
        }
        var seen = Set<String>(), chosen: [[String: Any]] = []
        for record in all.dropFirst(start) where chosen.count < count {
            guard let rewrite = record["requested_rewrite"] as? [String: Any], let subject = rewrite["subject"] as? String,
                  seen.insert(subject.lowercased()).inserted else { continue }
            chosen.append(record)
        }
        guard chosen.count == count else {
            throw BenchmarkFailure("\(url.path): only \(chosen.count) records with distinct subjects after \(start), \(count) needed")
        }
        records = chosen
    }

    /// Writes `records[range]` as a JSON array into `directory/name`.
    func write(_ range: Range<Int>, to directory: URL, name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: Array(records[range])).write(to: url)
        return url.path
    }

    /// Writes the records at `indices` as a JSON array into `directory/name`.
    func write(indices: [Int], to directory: URL, name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: indices.map { records[$0] }).write(to: url)
        return url.path
    }
}

extension Benchmarks {
    static func scratchDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-bench-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func integerEnvironment(_ name: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? fallback
    }

    /// The summary figures of `mledit eval --json` (no per-fact entries).
    static func evalSummary(_ object: [String: Any], seconds: Double) -> [String: Any] {
        var summary: [String: Any] = ["seconds": seconds]
        for key in ["n", "efficacy", "efficacy_magnitude", "paraphrase", "neighborhood", "top1"] { summary[key] = object[key] ?? NSNull() }
        return summary
    }

    /// Per-fact comparison of two evaluations of the same facts: how often the efficacy verdicts
    /// agree, and the largest difference of p(new) and p(true) on the rewrite prompt.
    static func compareFacts(_ a: [String: Any], _ b: [String: Any]) -> [String: Any] {
        let first = a["facts"] as? [[String: Any]] ?? [], second = b["facts"] as? [[String: Any]] ?? []
        var agree = 0, maxNew = 0.0, maxTrue = 0.0
        for (x, y) in zip(first, second) {
            if (x["efficacy"] as? Bool) == (y["efficacy"] as? Bool) { agree += 1 }
            maxNew = max(maxNew, abs((x["p_new"] as? Double ?? .nan) - (y["p_new"] as? Double ?? .nan)))
            maxTrue = max(maxTrue, abs((x["p_true"] as? Double ?? .nan) - (y["p_true"] as? Double ?? .nan)))
        }
        return ["facts": min(first.count, second.count), "efficacy_verdicts_agreeing": agree,
                "max_abs_diff_p_new": maxNew, "max_abs_diff_p_true": maxTrue]
    }

    /// The 1-minute load average (other work on the machine skews every timing here).
    static func loadAverage() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let first = text.split(separator: " ").first, let value = Double(first) else { return .nan }
        return value
    }

    static func mean(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }

    /// `revert`: MLEDIT_BENCH_COMMITS (10) MEMIT commits of MLEDIT_BENCH_FACTS_PER_COMMIT (8)
    /// facts each, the 5th reverted; efficacy of kept and reverted facts before and after, the
    /// reverted ones against the base model, and the kept ones against a fresh repository that
    /// commits them as one batch. Arguments: model, facts file.
    static func revertLineage(_ arguments: [String]) throws -> [String: Any] {
        let model = modelURL(arguments).path
        let commits = integerEnvironment("MLEDIT_BENCH_COMMITS", 10)
        let perCommit = integerEnvironment("MLEDIT_BENCH_FACTS_PER_COMMIT", 8)
        let revertedIndex = min(4, commits - 1)  // the 5th commit
        let facts = try CounterFactRecords(url: CounterFactRecords.url(arguments), start: 0, count: commits * perCommit)
        let loadAtStart = loadAverage()
        let work = try scratchDirectory("revert")
        defer { try? FileManager.default.removeItem(at: work) }
        let repository = work.appendingPathComponent("repo"), fresh = work.appendingPathComponent("fresh")
        for folder in [repository, fresh] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let driver = LibraryDriver(directory: repository), freshDriver = LibraryDriver(directory: fresh)
        let modelFile = URL(fileURLWithPath: model)

        let reverted = Array(revertedIndex * perCommit ..< (revertedIndex + 1) * perCommit)
        let kept = (0 ..< commits * perCommit).filter { !reverted.contains($0) }
        let keptFile = try facts.write(indices: kept, to: work, name: "kept.json")
        let revertedFile = try facts.write(indices: reverted, to: work, name: "reverted.json")

        try driver.create(model: modelFile)
        var commitSeconds: [Double] = [], commitCPU: [Double] = [], commitIDs: [String] = [], commitEfficacy: [Double] = []
        var statisticsComputedInFirstCommit = false
        for index in 0 ..< commits {
            let file = try facts.write(index * perCommit ..< (index + 1) * perCommit, to: work, name: "commit-\(index).json")
            let (outcome, seconds, notes) = try driver.commit(file, method: .memit, message: "bench commit \(index + 1)")
            if index == 0 { statisticsComputedInFirstCommit = notes.contains("computing preservation statistics") }
            commitSeconds.append(seconds)
            commitCPU.append(driver.lastCPUSeconds)
            commitIDs.append(outcome.record.id)
            commitEfficacy.append(outcome.edit.result.efficacy)
            FileHandle.standardError.write(Data("revert: commit \(index + 1)/\(commits) in \(String(format: "%.1f", seconds)) s\n".utf8))
        }
        let (keptBefore, keptBeforeSeconds, _) = try driver.evaluate(keptFile)
        let (revertedBefore, revertedBeforeSeconds, _) = try driver.evaluate(revertedFile)
        let workspace = try driver.repository()
        let (revertOutcome, revertSeconds, _) = try driver.timed { try workspace.revert(commitIDs[revertedIndex]) }
        let revertCPU = driver.lastCPUSeconds
        FileHandle.standardError.write(Data("revert: revert in \(String(format: "%.1f", revertSeconds)) s\n".utf8))
        let (keptAfter, keptAfterSeconds, _) = try driver.evaluate(keptFile)
        let (revertedAfter, revertedAfterSeconds, _) = try driver.evaluate(revertedFile)
        let (revertedBase, revertedBaseSeconds, _) = try driver.evaluate(revertedFile, model: modelFile)
        let (keptBase, keptBaseSeconds, _) = try driver.evaluate(keptFile, model: modelFile)

        try freshDriver.create(model: modelFile)
        let (freshOutcome, freshSeconds, _) = try freshDriver.commit(keptFile, method: .memit, message: "kept facts as one batch")
        let freshCPU = freshDriver.lastCPUSeconds
        FileHandle.standardError.write(Data("revert: fresh batch of \(kept.count) in \(String(format: "%.1f", freshSeconds)) s\n".utf8))
        let (keptFresh, keptFreshSeconds, _) = try freshDriver.evaluate(keptFile)

        return [
            "model": model, "commits": commits, "facts_per_commit": perCommit, "reverted_commit": revertedIndex + 1,
            "load_average_start": loadAtStart, "load_average_end": loadAverage(),
            "method": "memit", "first_fact_case_id": facts.records.first?["case_id"] ?? NSNull(),
            "commit_seconds_mean": mean(commitSeconds),
            "commit_seconds_mean_excluding_first": mean(Array(commitSeconds.dropFirst())),
            "commit_seconds": commitSeconds, "commit_cpu_seconds": commitCPU, "commit_efficacy_reported": commitEfficacy,
            "statistics_computed_in_first_commit": statisticsComputedInFirstCommit,
            "revert_seconds": revertSeconds, "revert_cpu_seconds": revertCPU, "revert_id": revertOutcome.record.id,
            "kept_before_revert": evalSummary(keptBefore, seconds: keptBeforeSeconds),
            "kept_after_revert": evalSummary(keptAfter, seconds: keptAfterSeconds),
            "kept_on_base": evalSummary(keptBase, seconds: keptBaseSeconds),
            "reverted_before_revert": evalSummary(revertedBefore, seconds: revertedBeforeSeconds),
            "reverted_after_revert": evalSummary(revertedAfter, seconds: revertedAfterSeconds),
            "reverted_on_base": evalSummary(revertedBase, seconds: revertedBaseSeconds),
            "reverted_after_revert_vs_base": compareFacts(revertedAfter, revertedBase),
            "fresh_repository": "the \(kept.count) kept facts committed as one MEMIT batch of \(kept.count)",
            "fresh_commit_seconds": freshSeconds, "fresh_commit_cpu_seconds": freshCPU,
            "fresh_commit_efficacy_reported": freshOutcome.edit.result.efficacy,
            "kept_fresh_batch": evalSummary(keptFresh, seconds: keptFreshSeconds),
        ]
    }

    /// Writes a copy of a GGUF file with every Q4_1 tensor dequantized and re-quantized to Q8_0
    /// (everything else copied byte for byte, general.file_type set to 7 = mostly Q8_0).
    /// Returns the number of tensors converted.
    static func writeQ8Copy(of source: URL, to output: URL) throws -> Int {
        let file = try GGUFFile(contentsOf: source)
        var writer = GGUFWriter(alignment: file.alignment)
        for entry in file.metadata { writer.addMetadata(entry.key, entry.value) }
        if file.value(forKey: "general.file_type") != nil { writer.addMetadata("general.file_type", .uint32(7)) }
        var converted = 0
        for tensor in file.tensors {
            guard tensor.type == .q4_1 else {
                try writer.addRawTensor(name: tensor.name, dimensions: tensor.dimensions, type: tensor.type, data: file.rawData(for: tensor))
                continue
            }
            let values = try file.floats(for: tensor)
            guard let byteCount = GGMLType.q8_0.byteCount(elementCount: values.count) else {
                throw BenchmarkFailure("tensor '\(tensor.name)': \(values.count) values do not fit Q8_0 blocks")
            }
            var data = Data(count: byteCount)
            let ok = data.withUnsafeMutableBytes { out in
                values.withUnsafeBufferPointer { Quantization.quantize(.q8_0, $0, into: out) }
            }
            guard ok else { throw BenchmarkFailure("tensor '\(tensor.name)': Q8_0 quantization refused") }
            try writer.addRawTensor(name: tensor.name, dimensions: tensor.dimensions, type: .q8_0, data: data)
            converted += 1
        }
        try writer.write(to: output)
        return converted
    }

    /// `rebase-model`: MLEDIT_BENCH_REBASE_COMMITS (2) MEMIT commits of
    /// MLEDIT_BENCH_FACTS_PER_COMMIT (8) facts on the default model, then `rebase --onto-model` a
    /// Q8_0 re-quantization of it; efficacy of the replayed facts there. Arguments: model, facts file.
    static func rebaseModel(_ arguments: [String]) throws -> [String: Any] {
        let model = modelURL(arguments)
        let commits = integerEnvironment("MLEDIT_BENCH_REBASE_COMMITS", 2)
        let perCommit = integerEnvironment("MLEDIT_BENCH_FACTS_PER_COMMIT", 8)
        let facts = try CounterFactRecords(url: CounterFactRecords.url(arguments), start: 200, count: commits * perCommit)
        let loadAtStart = loadAverage()
        let work = try scratchDirectory("rebase")
        defer { try? FileManager.default.removeItem(at: work) }
        let repository = work.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        let driver = LibraryDriver(directory: repository)
        let q8 = work.appendingPathComponent("SmolLM2-135M-Instruct.Q8_0-from-Q4_1.gguf")
        let (converted, convertSeconds) = try Measure.seconds { try writeQ8Copy(of: model, to: q8) }
        let allFile = try facts.write(0 ..< commits * perCommit, to: work, name: "all.json")

        try driver.create(model: model)
        var commitSeconds: [Double] = [], commitCPU: [Double] = []
        for index in 0 ..< commits {
            let file = try facts.write(index * perCommit ..< (index + 1) * perCommit, to: work, name: "commit-\(index).json")
            let (_, seconds, _) = try driver.commit(file, method: .memit, message: "bench commit \(index + 1)")
            commitSeconds.append(seconds)
            commitCPU.append(driver.lastCPUSeconds)
            FileHandle.standardError.write(Data("rebase-model: commit \(index + 1)/\(commits) in \(String(format: "%.1f", seconds)) s\n".utf8))
        }
        let (before, beforeSeconds, _) = try driver.evaluate(allFile)
        let workspace = try driver.repository()
        let (rebase, rebaseSeconds, rebaseNotes) = try driver.timed { try workspace.rebase(ontoModel: q8) }
        let rebaseCPU = driver.lastCPUSeconds
        FileHandle.standardError.write(Data("rebase-model: rebase in \(String(format: "%.1f", rebaseSeconds)) s\n".utf8))
        let (after, afterSeconds, _) = try driver.evaluate(allFile)
        let (q8Base, q8BaseSeconds, _) = try driver.evaluate(allFile, model: q8)
        let (q4Base, q4BaseSeconds, _) = try driver.evaluate(allFile, model: model)
        let replayed: Int
        if case .replayed(_, _, let commits, _, _) = rebase { replayed = commits.count } else { replayed = 0 }
        return [
            "model": model.path, "commits": commits, "facts_per_commit": perCommit, "method": "memit",
            "load_average_start": loadAtStart, "load_average_end": loadAverage(),
            "first_fact_case_id": facts.records.first?["case_id"] ?? NSNull(),
            "q8_copy_tensors_converted": converted, "q8_copy_seconds": convertSeconds,
            "q8_copy_bytes": fileSize(q8.path), "q4_1_bytes": fileSize(model.path),
            "commit_seconds": commitSeconds, "commit_cpu_seconds": commitCPU, "commit_seconds_mean": mean(commitSeconds),
            "rebase_seconds": rebaseSeconds, "rebase_cpu_seconds": rebaseCPU, "rebase_replayed_commits": replayed,
            "rebase_computed_statistics": rebaseNotes.contains("computing preservation statistics"),
            "facts_before_rebase_q4_1_head": evalSummary(before, seconds: beforeSeconds),
            "facts_after_rebase_q8_0_head": evalSummary(after, seconds: afterSeconds),
            "facts_on_q8_0_base": evalSummary(q8Base, seconds: q8BaseSeconds),
            "facts_on_q4_1_base": evalSummary(q4Base, seconds: q4BaseSeconds),
        ]
    }
}
