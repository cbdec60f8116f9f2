// The SentencePiece-style BPE of Gemma GGUF files (`tokenizer.ggml.model = llama`), as Hugging Face
// transformers builds it from the same metadata (integrations/gguf, `gemma_tokenizer`): control
// (type 3) and user-defined (type 4) tokens matched whole in the raw text, leftmost and longest
// first; the rest with every space written '▁', cut into code points (those outside the vocabulary
// as <0xXX> byte tokens), then merged pairwise, the pair whose merged token comes first in the file
// first (the file has no merges, and Gemma's scores do not follow the merge order), a longer left
// part before a shorter one for the same merged token. Tokens of two or more spaces are looked up
// as that many '▁'. Not yet behind `Tokenizer`, which is byte-level BPE only.
import Checkpoints
import Foundation

/// A Gemma-style SentencePiece BPE tokenizer read from GGUF metadata.
public struct SentencePieceTokenizer: Sendable {
    let pieces: [String]
    let specialFlags: [Bool]
    /// UTF-8 spelling (spaces as '▁') → id; a spelling listed twice keeps its last id, as a Python
    /// dict. Keyed by bytes, not String: String equality is canonical equivalence, which would make
    /// the Greek question mark U+037E the same token as ';'.
    private let ids: [[UInt8]: Int32]
    private let byteIDs: [Int32]
    /// (left id << 32 | right id) → (rank, merged id); a lower rank merges first.
    private let merges: [UInt64: (rank: Int, merged: Int32)]
    /// Added tokens as scalars, longest first within each first scalar.
    private let added: [Unicode.Scalar: [(scalars: [Unicode.Scalar], id: Int32, special: Bool)]]
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let unknownTokenID: Int?
    public let addBOS: Bool

    public var vocabularySize: Int { pieces.count }

    /// Builds the tokenizer a Gemma GGUF file describes.
    /// - Throws: `TokenizerError` naming the key that is missing, of the wrong type or unsupported.
    public init(gguf: GGUFFile) throws {
        let source = gguf.url.path
        let modelKey = "tokenizer.ggml.model", tokensKey = "tokenizer.ggml.tokens", typesKey = "tokenizer.ggml.token_type"
        guard let model = gguf.value(forKey: modelKey)?.string else { throw TokenizerError.missingKey(source: source, key: modelKey) }
        guard model == "llama" else {
            throw TokenizerError.unsupported(source: source, key: modelKey, value: "'\(model)' (SentencePiece 'llama' only)")
        }
        guard let tokens = gguf.value(forKey: tokensKey)?.strings else { throw TokenizerError.missingKey(source: source, key: tokensKey) }
        guard let typeValues = gguf.value(forKey: typesKey)?.array, typeValues.count == tokens.count else {
            throw TokenizerError.invalidValue(source: source, key: typesKey, reason: "expected one integer per token")
        }
        let types = typeValues.map { $0.integer ?? 1 }
        func id(_ key: String) throws -> Int? {
            guard let value = gguf.value(forKey: key) else { return nil }
            guard let id = value.integer, (0..<tokens.count).contains(id) else {
                throw TokenizerError.invalidValue(source: source, key: key, reason: "not a token id")
            }
            return id
        }
        bosTokenID = try id("tokenizer.ggml.bos_token_id")
        eosTokenID = try id("tokenizer.ggml.eos_token_id")
        unknownTokenID = try id("tokenizer.ggml.unknown_token_id")
        if case let .bool(flag)? = gguf.value(forKey: "tokenizer.ggml.add_bos_token") { addBOS = flag } else { addBOS = true }

        let spellings = tokens.map { token in
            token.contains(" ") && token.allSatisfy({ $0 == " " }) ? String(repeating: "▁", count: token.count) : token
        }
        var ids: [[UInt8]: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (index, spelling) in spellings.enumerated() { ids[Array(spelling.utf8)] = Int32(index) }
        var merges: [UInt64: (rank: Int, merged: Int32)] = [:]
        for (bytes, merged) in ids {
            // Cut points between code points: before every byte that does not continue a sequence.
            let cuts = bytes.indices.dropFirst().filter { bytes[$0] & 0xC0 != 0x80 }
            for (scalarsLeft, cut) in cuts.enumerated() {
                guard let l = ids[Array(bytes[..<cut])], let r = ids[Array(bytes[cut...])] else { continue }
                // transformers sorts by (score = −position, left length, right length), descending.
                let leftLength = scalarsLeft + 1
                merges[UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))] = (Int(merged) * 4096 + (4095 - min(leftLength, 4095)), merged)
            }
        }
        var added: [Unicode.Scalar: [(scalars: [Unicode.Scalar], id: Int32, special: Bool)]] = [:]
        for (index, token) in tokens.enumerated() where (types[index] == 3 || types[index] == 4) && !token.isEmpty {
            let scalars = Array(token.unicodeScalars)
            added[scalars[0], default: []].append((scalars, Int32(index), types[index] == 3))
        }
        for key in added.keys { added[key]?.sort { $0.scalars.count > $1.scalars.count } }
        self.pieces = tokens
        self.specialFlags = types.map { $0 == 3 }
        self.ids = ids
        self.byteIDs = (0..<256).map { ids[Array(String(format: "<0x%02X>", $0).utf8)] ?? -1 }
        self.merges = merges
        self.added = added
    }

    /// Whether `id` is a control token (`<bos>`, `<start_of_turn>`, …).
    public func isSpecial(_ id: Int) -> Bool { specialFlags.indices.contains(id) && specialFlags[id] }

    /// The token ids of `text`, with BOS first when the file asks for it.
    /// - Parameter parseSpecialTokens: match control tokens' text as the token; user-defined
    ///   tokens (newline runs, `[multimodal]`) are always matched whole, as transformers does.
    public func encode(_ text: String, parseSpecialTokens: Bool = true, addingBOS: Bool? = nil) -> [Int32] {
        var out: [Int32] = []
        if addingBOS ?? addBOS, let bosTokenID { out.append(Int32(bosTokenID)) }
        let scalars = Array(text.unicodeScalars)
        var segmentStart = 0, i = 0
        while i < scalars.count {
            let match = added[scalars[i]]?.first { candidate in
                (parseSpecialTokens || !candidate.special) && i + candidate.scalars.count <= scalars.count
                    && scalars[i..<(i + candidate.scalars.count)].elementsEqual(candidate.scalars)
            }
            guard let match else {
                i += 1
                continue
            }
            encodeSegment(scalars[segmentStart..<i], into: &out)
            out.append(match.id)
            i += match.scalars.count
            segmentStart = i
        }
        encodeSegment(scalars[segmentStart..<scalars.count], into: &out)
        return out
    }

    /// The text of `ids`: '▁' read as a space, <0xXX> tokens as bytes, invalid UTF-8 replaced.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids.map(Int.init) where pieces.indices.contains(id) {
            if skipSpecialTokens && specialFlags[id] { continue }
            bytes.append(contentsOf: Self.bytes(ofPiece: pieces[id]))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes a piece stands for: '▁' as a space, a <0xXX> token as its byte.
    static func bytes(ofPiece piece: String) -> [UInt8] {
        if piece.utf8.count == 6, piece.hasPrefix("<0x"), piece.hasSuffix(">"), let byte = UInt8(piece.dropFirst(3).prefix(2), radix: 16) {
            return [byte]
        }
        return Array(piece.replacingOccurrences(of: "▁", with: " ").utf8)
    }

    /// BPE of one stretch of text between added tokens (spaces already as scalars).
    private func encodeSegment(_ text: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        var symbols: [Int32] = []
        symbols.reserveCapacity(text.count)
        for scalar in text {
            let spelled = Array(String(Character(scalar == " " ? "▁" : scalar)).utf8)
            if let id = ids[spelled] {
                symbols.append(id)
                continue
            }
            let fallback = Array(String(Character(scalar)).utf8).map { byteIDs[Int($0)] }
            if fallback.allSatisfy({ $0 >= 0 }) {
                symbols += fallback
            } else if let unknownTokenID {
                symbols.append(Int32(unknownTokenID))
            }
        }
        // Merge the best-ranked adjacent pair (leftmost among equals) until none is left.
        while symbols.count > 1 {
            var best: (index: Int, rank: Int, merged: Int32)?
            for index in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[index])) << 32 | UInt64(UInt32(symbols[index + 1]))
                if let merge = merges[key], merge.rank < (best?.rank ?? .max) { best = (index, merge.rank, merge.merged) }
            }
            guard let best else { break }
            symbols[best.index] = best.merged
            symbols.remove(at: best.index + 1)
        }
        out += symbols
    }
}
