// Shared pieces of the ledger tests: temporary repositories, deterministic drafts, a lock box.
import Foundation
import Tensors
@testable import Ledger

/// A fresh temporary folder, removed when the value is released.
final class TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A mutable value shared between threads under a lock.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withValue<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

enum Sample {
    static let baseDigest = SHA256.hash("base model bytes").hex
    static let otherBaseDigest = SHA256.hash("another base model").hex

    static func baseModel(digest: String = baseDigest) -> BaseModelDraft {
        BaseModelDraft(path: "/models/tiny.gguf", sha256: digest, format: "gguf", architecture: "llama",
                       configuration: .object(["hidden_size": .integer(8), "num_hidden_layers": .integer(2)]))
    }

    static func repository(in directory: TemporaryDirectory) throws -> Repository {
        try Repository.create(at: directory.url, baseModel: baseModel())
    }

    static func fact(_ i: Int, target: String? = nil) -> Fact {
        Fact(subject: "Subject \(i)", prompt: "{} is located in", targetNew: target ?? "City \(i)", targetTrue: "Town \(i)",
             paraphrases: ["Where is {}? In"], neighborhood: ["Neighbor \(i) is located in"])
    }

    /// A draft with one delta on each of `tensors` (6 × 5, rank = facts.count) drawn from `seed`.
    static func draft(parent: String?, baseModelID: Int64 = 1, facts: [Fact], seed: UInt64,
                      tensors: [String] = ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"],
                      precision: DeltaPrecision = .f16, message: String = "edit", author: String = "tester") -> CommitDraft {
        var generator = SeededGenerator(seed: seed)
        let rank = max(facts.count, 1)
        let deltas = tensors.enumerated().map { layer, name in
            DeltaInput(tensor: name, layer: layer, u: Matrix<Double>.gaussian(rows: 6, cols: rank, generator: &generator),
                       v: Matrix<Double>.gaussian(rows: 5, cols: rank, generator: &generator), precision: precision)
        }
        let vectors = tensors.enumerated().map { layer, name in
            EditVectors(tensor: name, layer: layer, keys: Matrix<Double>.gaussian(rows: 5, cols: facts.count, generator: &generator),
                        values: Matrix<Double>.gaussian(rows: 6, cols: facts.count, generator: &generator))
        }
        return CommitDraft(parentID: parent, baseModelID: baseModelID, method: "MEMIT",
                           hyperparameters: .object(["lambda": .integer(15000), "layers": .array([.integer(0), .integer(1)]),
                                                     "v_lr": .number(0.5)]),
                           contextPrefixes: ["The following is true. ", ""], facts: facts, deltas: deltas,
                           editVectors: vectors, message: message, author: author)
    }

    /// Writes `count` edit commits on HEAD, each with one new fact; returns their records, oldest first.
    static func chain(_ repository: Repository, count: Int, firstSeed: UInt64 = 1) throws -> [CommitRecord] {
        var parent = try repository.head().commitID
        var out: [CommitRecord] = []
        for i in 0..<count {
            let record = try repository.writeCommit(draft(parent: parent, facts: [fact(Int(firstSeed) * 100 + i)], seed: firstSeed &+ UInt64(i)))
            out.append(record)
            parent = record.id
        }
        return out
    }
}

/// The Tests folder, from this file's path.
let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
