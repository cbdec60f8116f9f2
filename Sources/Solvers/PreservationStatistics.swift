// Preservation statistics: C0 = E[k kᵀ] of the keys of one edit layer over ordinary text,
// accumulated in Float64 one key block at a time (the upper triangle of each piece of 512 rows by
// SSYRK, pieces of every layer spread over the threads; never per-token outer products). Deterministic: the corpus is read in a fixed order and
// cut into fixed-length sequences. Serialized as a raw little-endian Float64 matrix plus the token count, which is what
// the ledger caches. Reading the corpus text is CorpusReader's job.
import Foundation
import Models
import Tensors

/// C0 of one layer.
public struct LayerStatistics: Sendable, Equatable {
    public let layer: Int
    /// Tokens (keys) averaged over.
    public let tokenCount: Int
    /// E[k kᵀ] (d_in × d_in), symmetric.
    public let moment: Matrix<Double>

    public init(layer: Int, tokenCount: Int, moment: Matrix<Double>) {
        precondition(moment.rows == moment.cols, "C0 must be square")
        self.layer = layer
        self.tokenCount = tokenCount
        self.moment = moment
    }

    /// The moment as d_in² little-endian Float64 values, row-major.
    public var blob: Data {
        var data = Data(count: moment.count * 8)
        data.withUnsafeMutableBytes { raw in
            for (i, value) in moment.values.enumerated() {
                raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self)
            }
        }
        return data
    }

    /// Reads a moment written by `blob`.
    /// - Throws: `SolverError.statistics` when the size is not `dimension² · 8` bytes or a value is
    ///   not finite.
    public init(layer: Int, tokenCount: Int, dimension: Int, blob: Data) throws {
        guard dimension > 0, blob.count == dimension * dimension * 8 else {
            throw SolverError.statistics(layer: layer, reason: "blob of \(blob.count) bytes for a \(dimension)×\(dimension) Float64 matrix")
        }
        guard tokenCount > 0 else { throw SolverError.statistics(layer: layer, reason: "token count \(tokenCount)") }
        var values = [Double](repeating: 0, count: dimension * dimension)
        blob.withUnsafeBytes { raw in
            for i in 0..<values.count {
                values[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
            }
        }
        if !values.allSatisfy(\.isFinite) { throw SolverError.statistics(layer: layer, reason: "blob holds a non-finite value") }
        self.init(layer: layer, tokenCount: tokenCount, moment: Matrix(rows: dimension, cols: dimension, values: values))
    }
}

/// Accumulates C0 for several layers from a corpus.
public enum StatisticsCollector {
    /// Rows of a key block summed in Float32 (by SSYRK) before they reach the Float64 total: a
    /// fixed cut, so the result does not depend on the thread count.
    static let rowsPerGramPiece = 512

    /// Streams `corpus` through `model` in sequences of `sequenceLength` tokens (BOS included when
    /// the tokenizer asks for it) and accumulates E[k kᵀ] for every layer in `layers` over exactly
    /// `tokenCount` keys.
    /// - Parameters:
    ///   - batchTokens: about how many tokens go through the model at once.
    ///   - progress: called with (tokens done, tokens wanted) after every batch.
    /// - Throws: `SolverError.corpusTooSmall` when the corpus runs out, corpus read errors.
    public static func collect(model: EditableModel, tokenizer: Tokenizer, corpus: CorpusReader, layers: [Int],
                               tokenCount: Int, sequenceLength: Int, batchTokens: Int = 2048,
                               progress: ((Int, Int) -> Void)? = nil) throws -> [Int: LayerStatistics] {
        let layers = Array(Set(layers)).sorted()
        let d = model.configuration.intermediateSize
        let length = max(2, min(sequenceLength, model.configuration.contextLength))
        // Upper triangles: each layer's Float64 sum, and a Float32 Gram per piece of a batch.
        let sums = layers.map { _ in UnsafeMutableBufferPointer<Double>.allocate(capacity: d * d) }
        let largestBatch = min(batchTokens + length, tokenCount)     // a batch ends with a whole sequence
        let pieceCount = layers.count * ((largestBatch + rowsPerGramPiece - 1) / rowsPerGramPiece)
        let grams = (0..<pieceCount).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: d * d) }
        defer {
            for buffer in sums { buffer.deallocate() }
            for buffer in grams { buffer.deallocate() }
        }
        for buffer in sums { buffer.initialize(repeating: 0) }
        for buffer in grams { buffer.initialize(repeating: 0) }
        var stream = TokenStream(corpus: corpus, tokenizer: tokenizer, sequenceLength: length)
        var done = 0
        while done < tokenCount {
            var batch: [[Int]] = []
            var batchCount = 0
            while batchCount < min(batchTokens, tokenCount - done), let sequence = try stream.next() {
                let take = min(sequence.count, tokenCount - done - batchCount)
                batch.append(Array(sequence.prefix(take)))
                batchCount += take
            }
            if batch.isEmpty { throw SolverError.corpusTooSmall(tokens: done, needed: tokenCount) }
            let keys = model.keysAtAllPositions(prompts: batch, layers: layers)
            for layer in layers {
                guard let block = keys[layer], block.cols == d, block.rows == batchCount else {
                    throw SolverError.statistics(layer: layer, reason: "the model returned no \(batchCount)×\(d) key block")
                }
            }
            let blocks = layers.map { keys[$0]! }
            let cuts = stride(from: 0, to: batchCount, by: rowsPerGramPiece).map { $0..<min($0 + rowsPerGramPiece, batchCount) }
            // Pieces of (layer, rows) share the threads; each layer's Float64 sum has one owner and
            // takes its pieces in row order, so no sum depends on the thread count.
            nonisolated(unsafe) let pieceGrams = grams
            ComputeThreads.forEach(layers.count * cuts.count) { piece in
                blocks[piece / cuts.count].upperGram(rows: cuts[piece % cuts.count], into: pieceGrams[piece].baseAddress!)
            }
            nonisolated(unsafe) let totals = sums
            ComputeThreads.forEach(layers.count) { i in
                let total = totals[i].baseAddress!
                for c in cuts.indices {
                    let gram = pieceGrams[i * cuts.count + c].baseAddress!
                    for row in 0..<d {
                        for col in row..<d { total[row * d + col] += Double(gram[row * d + col]) }
                    }
                }
            }
            done += batchCount
            progress?(done, tokenCount)
        }
        var out: [Int: LayerStatistics] = [:]
        for (i, layer) in layers.enumerated() {
            var sum = Matrix<Double>(rows: d, cols: d, values: Array(sums[i]))
            let scale = 1 / Double(done)
            for i in 0..<sum.values.count { sum.values[i] *= scale }
            sum.mirrorUpper()
            if !sum.values.allSatisfy(\.isFinite) {
                throw SolverError.statistics(layer: layer, reason: "keys of the corpus are not finite")
            }
            out[layer] = LayerStatistics(layer: layer, tokenCount: done, moment: sum)
        }
        return out
    }

    /// A progress callback that redraws "statistics: N/M tokens" on stderr when stderr is a
    /// terminal, and does nothing otherwise (pipes and logs stay clean).
    public static func terminalProgress(label: String = "statistics") -> ((Int, Int) -> Void)? {
        guard isatty(STDERR_FILENO) != 0 else { return nil }
        return { done, total in
            let line = "\r\(label): \(done)/\(total) tokens" + (done >= total ? "\n" : "")
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

}

/// Corpus text cut into token sequences of a fixed length, documents back to back.
struct TokenStream {
    var corpus: CorpusReader
    let tokenizer: Tokenizer
    let sequenceLength: Int
    private var pending: [Int] = []
    private var exhausted = false

    init(corpus: CorpusReader, tokenizer: Tokenizer, sequenceLength: Int) {
        self.corpus = corpus
        self.tokenizer = tokenizer
        self.sequenceLength = sequenceLength
    }

    /// The next sequence (BOS + up to sequenceLength − 1 tokens, or sequenceLength tokens), or nil
    /// at the end of the corpus. The last sequence may be shorter.
    mutating func next() throws -> [Int]? {
        let bos = FactTokenization.bosPrefix(tokenizer)
        let content = sequenceLength - bos.count
        while pending.count < content && !exhausted {
            if let document = try corpus.nextDocument() {
                pending += tokenizer.encode(document, parseSpecialTokens: false)
            } else {
                exhausted = true
            }
        }
        if pending.isEmpty { return nil }
        let take = min(content, pending.count)
        let sequence = bos + pending.prefix(take)
        pending.removeFirst(take)
        return sequence
    }
}
