// A byte-level BPE tokenizer (GPT-2, SmolLM2 and kin): added/special tokens matched whole in the
// text, pre-tokenization (PreTokenizer.swift), BPE merges by rank (TokenizerBPE.swift), and
// decoding back through the byte alphabet. Encoding reports each token's span in Unicode code
// points so a subject's last token can be found from offsets. Built from a tokenizer.json
// (Tokenizer+JSON.swift), GGUF metadata (Tokenizer+GGUF.swift) or explicit lists. Deliberately
// not SentencePiece/WordPiece/Unigram, no normalizers, and it never adds BOS itself.

/// One encoded token and the code points it came from.
public struct EncodedToken: Sendable, Equatable {
    public let id: Int
    /// `[start, end)` in Unicode scalars of the encoded text (Python `str` indices). Byte-level
    /// tokens that hold part of one character share that character's span.
    public let start: Int
    public let end: Int

    public init(id: Int, start: Int, end: Int) {
        self.id = id
        self.start = start
        self.end = end
    }
}

/// A byte-level BPE tokenizer.
public struct Tokenizer: Sendable {
    /// A token matched whole in the text before pre-tokenization.
    struct AddedToken: Sendable {
        var id: Int32
        var bytes: [UInt8]
        /// Special tokens are matched only when special-token parsing is on; others always.
        var special: Bool
        /// Absorb whitespace on the left / right of a match (tokenizer.json `lstrip`/`rstrip`).
        var leftStrip = false
        var rightStrip = false
    }

    /// Spelling of each id; "" for an id that has no token. Shape (vocabularySize).
    private let pieces: [String]
    /// Whether each id is a special added token. Shape (vocabularySize).
    private let specialFlags: [Bool]
    /// Bytes each id decodes to: `decodeBytes[decodeStarts[id] ..< decodeStarts[id + 1]]`.
    private let decodeBytes: [UInt8]
    private let decodeStarts: [Int32]
    /// Id of each vocabulary spelling, keyed by its UTF-8 (exact, not canonical, equality).
    private let idsBySpelling: [[UInt8]: Int32]
    /// Token id of each single byte; -1 if the vocabulary lacks it. Shape (256).
    private let byteIDs: [Int32]
    private let merges: MergeTable
    private let addedTokens: [AddedToken]
    /// Indices into `addedTokens` by first byte, longest first. Shape (256).
    private let addedByFirstByte: [[Int]]
    /// Emit a word that is itself in the vocabulary without merging (tokenizer.json `ignore_merges`).
    private let ignoreMerges: Bool
    /// The encoder of a SentencePiece vocabulary (GGUF `tokenizer.ggml.model = llama`); nil for
    /// byte-level BPE. Decoding goes through `decodeBytes` either way.
    private let sentencePiece: SentencePieceTokenizer?

    /// The pre-tokenization rule.
    public let preTokenizer: PreTokenizerKind
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let unknownTokenID: Int?
    public let paddingTokenID: Int?
    /// Whether the model expects BOS in front of a prompt. `encode` never adds it; callers do.
    public let addBOS: Bool

    /// How text becomes tokens: "byte-level BPE" or "SentencePiece BPE".
    public var algorithm: String { sentencePiece == nil ? "byte-level BPE" : "SentencePiece BPE" }

    /// The number of ids (largest id + 1, added tokens included).
    public var vocabularySize: Int { pieces.count }

    /// The designated initializer every source ends in.
    init<S: StringProtocol>(
        source: String, pieces: [String], mergePairs: [(S, S)], mergesKey: String, added: [AddedToken],
        ignoreMerges: Bool, preTokenizer: PreTokenizerKind, bosTokenID: Int?, eosTokenID: Int?,
        unknownTokenID: Int?, paddingTokenID: Int?, addBOS: Bool, sentencePiece: SentencePieceTokenizer? = nil
    ) throws {
        let count = pieces.count
        for (name, id) in [("bos", bosTokenID), ("eos", eosTokenID), ("unknown", unknownTokenID), ("padding", paddingTokenID)] {
            if let id, !(0..<count).contains(id) {
                throw TokenizerError.invalidValue(
                    source: source, key: "\(name) token id", reason: "\(id) is outside 0..<\(count)")
            }
        }
        var idsBySpelling: [[UInt8]: Int32] = [:]
        idsBySpelling.reserveCapacity(count)
        for (id, piece) in pieces.enumerated() where !piece.isEmpty {
            let key = Array(piece.utf8)
            if idsBySpelling[key] == nil { idsBySpelling[key] = Int32(id) }
        }
        var table = MergeTable(minimumCapacity: mergePairs.count)
        for (rank, pair) in mergePairs.enumerated() {
            let left = Array(pair.0.utf8)
            let right = Array(pair.1.utf8)
            guard let leftID = idsBySpelling[left], let rightID = idsBySpelling[right],
                  let mergedID = idsBySpelling[left + right] else {
                let missing = idsBySpelling[left] == nil ? String(pair.0)
                    : idsBySpelling[right] == nil ? String(pair.1) : String(pair.0) + String(pair.1)
                throw TokenizerError.invalidEntry(
                    source: source, key: mergesKey, index: rank,
                    reason: "token '\(missing)' of merge '\(pair.0) \(pair.1)' is not in the vocabulary")
            }
            table.insert(left: leftID, right: rightID, rank: Int32(rank), merged: mergedID)
        }
        var specialFlags = sentencePiece?.specialFlags ?? [Bool](repeating: false, count: count)
        var addedByFirstByte = [[Int]](repeating: [], count: 256)
        for (index, token) in added.enumerated() {
            guard (0..<count).contains(Int(token.id)), let first = token.bytes.first else {
                throw TokenizerError.invalidEntry(
                    source: source, key: "added tokens", index: index, reason: "empty or id \(token.id) out of range")
            }
            if token.special { specialFlags[Int(token.id)] = true }
            addedByFirstByte[Int(first)].append(index)
        }
        for b in 0..<256 {
            addedByFirstByte[b].sort { added[$0].bytes.count > added[$1].bytes.count }
        }
        var decodeBytes: [UInt8] = []
        var decodeStarts: [Int32] = [0]
        decodeStarts.reserveCapacity(count + 1)
        for piece in pieces {
            decodeBytes.append(contentsOf: sentencePiece == nil ? ByteLevelAlphabet.bytes(ofSpelling: piece)
                                                                : SentencePieceTokenizer.bytes(ofPiece: piece))
            decodeStarts.append(Int32(decodeBytes.count))
        }
        self.pieces = pieces
        self.specialFlags = specialFlags
        self.decodeBytes = decodeBytes
        self.decodeStarts = decodeStarts
        self.byteIDs = (0..<256).map { idsBySpelling[ByteLevelAlphabet.spelling(ofByte: $0)] ?? -1 }
        self.idsBySpelling = idsBySpelling
        self.merges = table
        self.addedTokens = added
        self.addedByFirstByte = addedByFirstByte
        self.ignoreMerges = ignoreMerges
        self.preTokenizer = preTokenizer
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.unknownTokenID = unknownTokenID
        self.paddingTokenID = paddingTokenID
        self.addBOS = addBOS
        self.sentencePiece = sentencePiece
    }

    // MARK: - Vocabulary

    /// The vocabulary spelling of `id` ("Ġthe"); "" for an id outside the vocabulary.
    public func piece(_ id: Int) -> String {
        pieces.indices.contains(id) ? pieces[id] : ""
    }

    /// The id whose spelling is exactly `piece`, if any.
    public func id(forPiece piece: String) -> Int? {
        idsBySpelling[Array(piece.utf8)].map(Int.init)
    }

    /// Whether `id` is a special added token (tokenizer.json `special: true`, GGUF control
    /// token): skipped by `decode(_:skipSpecialTokens: true)`.
    public func isSpecial(_ id: Int) -> Bool {
        specialFlags.indices.contains(id) && specialFlags[id]
    }

    /// The raw bytes `id` stands for (part of a UTF-8 character for some byte-level tokens).
    public func bytes(_ id: Int) -> [UInt8] {
        guard pieces.indices.contains(id) else { return [] }
        return Array(decodeBytes[Int(decodeStarts[id])..<Int(decodeStarts[id + 1])])
    }

    // MARK: - Encoding and decoding

    /// The token ids of `text`, without BOS.
    /// - Parameter parseSpecialTokens: match special tokens' text (`<|im_start|>`) as the special
    ///   token; when false it is encoded as ordinary text.
    public func encode(_ text: String, parseSpecialTokens: Bool = true) -> [Int] {
        if let sentencePiece { return sentencePiece.encode(text, parseSpecialTokens: parseSpecialTokens, addingBOS: false).map(Int.init) }
        return encodeTokens(text, parseSpecialTokens: parseSpecialTokens, wantSpans: false).ids.map(Int.init)
    }

    /// The tokens of `text` with their code-point spans, without BOS.
    public func encodeWithOffsets(_ text: String, parseSpecialTokens: Bool = true) -> [EncodedToken] {
        if sentencePiece != nil { return sentencePieceOffsets(text, parseSpecialTokens: parseSpecialTokens) }
        let result = encodeTokens(text, parseSpecialTokens: parseSpecialTokens, wantSpans: true)
        return result.ids.indices.map {
            EncodedToken(id: Int(result.ids[$0]), start: Int(result.spans[2 * $0]), end: Int(result.spans[2 * $0 + 1]))
        }
    }

    /// SentencePiece tokens with their spans: each token covers the scalars its bytes complete
    /// (a byte-fallback token inside a character covers none), counted on the decoded text,
    /// which is the text itself since the vocabulary adds no prefix and normalizes nothing.
    private func sentencePieceOffsets(_ text: String, parseSpecialTokens: Bool) -> [EncodedToken] {
        let limit = text.unicodeScalars.count
        var scalars = 0
        return encode(text, parseSpecialTokens: parseSpecialTokens).map { id in
            let start = min(scalars, limit)
            for byte in bytes(id) where byte & 0xC0 != 0x80 { scalars += 1 }
            return EncodedToken(id: id, start: start, end: min(scalars, limit))
        }
    }

    /// The text of `ids`: their bytes joined and read as UTF-8, each invalid sequence replaced by
    /// U+FFFD. Ids outside the vocabulary are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids where pieces.indices.contains(id) {
            if skipSpecialTokens, specialFlags[id] { continue }
            bytes.append(contentsOf: decodeBytes[Int(decodeStarts[id])..<Int(decodeStarts[id + 1])])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Ids and, when `wantSpans`, `[start, end)` scalar spans flattened in pairs.
    private func encodeTokens(_ text: String, parseSpecialTokens: Bool, wantSpans: Bool) -> (ids: [Int32], spans: [Int32]) {
        var text = text
        return text.withUTF8 { bytes in
            let map = ScalarMap(utf8: bytes)
            var state = EncodeState(wantSpans: wantSpans)
            state.ids.reserveCapacity(bytes.count / 3 + 1)
            if wantSpans { state.byteRanges.reserveCapacity(2 * (bytes.count / 3 + 1)) }
            map.starts.withUnsafeBufferPointer { starts in
                map.classes.withUnsafeBufferPointer { classes in
                    byteIDs.withUnsafeBufferPointer { byteIDs in
                        merges.withReader { merges in
                            let context = EncodeContext(
                                bytes: bytes, starts: starts, classes: classes, byteIDs: byteIDs, merges: merges)
                            split(context, parseSpecialTokens: parseSpecialTokens, into: &state)
                        }
                    }
                }
            }
            guard wantSpans else { return (state.ids, []) }
            return (state.ids, spans(byteRanges: state.byteRanges, starts: map.starts))
        }
    }

    private struct EncodeContext {
        let bytes: UnsafeBufferPointer<UInt8>
        let starts: UnsafeBufferPointer<Int32>
        let classes: UnsafeBufferPointer<UInt8>
        let byteIDs: UnsafeBufferPointer<Int32>
        let merges: MergeTable.Reader
    }

    private struct EncodeState {
        let wantSpans: Bool
        var ids: [Int32] = []
        /// Byte length of each token (scratch for the merge output).
        var lengths: [Int32] = []
        /// `[start, end)` byte range of each token, flattened in pairs.
        var byteRanges: [Int32] = []
        var words: [Int32] = []
        var workspace = BPEWorkspace()
    }

    /// Splits the text at added-token matches (leftmost, longest first) and encodes the pieces.
    private func split(_ c: EncodeContext, parseSpecialTokens: Bool, into state: inout EncodeState) {
        let scalarCount = c.classes.count
        var segmentStart = 0
        var i = 0
        let anyCandidate = addedTokens.contains { parseSpecialTokens || !$0.special }
        while i < scalarCount && anyCandidate {
            let at = Int(c.starts[i])
            var matched: (token: AddedToken, end: Int)?
            for index in addedByFirstByte[Int(c.bytes[at])] {
                let token = addedTokens[index]
                guard !token.special || parseSpecialTokens, at + token.bytes.count <= c.bytes.count,
                      token.bytes.withUnsafeBufferPointer({ t in t.indices.allSatisfy { c.bytes[at + $0] == t[$0] } })
                else { continue }
                var end = i + 1
                while Int(c.starts[end]) < at + token.bytes.count { end += 1 }
                matched = (token, end)
                break
            }
            guard let (token, end) = matched else {
                i += 1
                continue
            }
            var matchStart = i
            var matchEnd = end
            if token.leftStrip {
                while matchStart > segmentStart, c.classes[matchStart - 1] == ScalarClass.whitespace { matchStart -= 1 }
            }
            if token.rightStrip {
                while matchEnd < scalarCount, c.classes[matchEnd] == ScalarClass.whitespace { matchEnd += 1 }
            }
            encodeSegment(c, segmentStart..<matchStart, into: &state)
            state.ids.append(token.id)
            if state.wantSpans {
                state.byteRanges.append(c.starts[matchStart])
                state.byteRanges.append(c.starts[matchEnd])
            }
            segmentStart = matchEnd
            i = matchEnd
        }
        encodeSegment(c, segmentStart..<scalarCount, into: &state)
    }

    /// Pre-tokenizes scalars `range` and merges each word.
    private func encodeSegment(_ c: EncodeContext, _ range: Range<Int>, into state: inout EncodeState) {
        guard !range.isEmpty else { return }
        state.words.removeAll(keepingCapacity: true)
        appendWords(of: preTokenizer, range: range, bytes: c.bytes, starts: c.starts, classes: c.classes, to: &state.words)
        let unknown = Int32(unknownTokenID ?? -1)
        var w = 0
        while w < state.words.count {
            let from = Int(c.starts[Int(state.words[w])])
            let to = Int(c.starts[Int(state.words[w + 1])])
            w += 2
            let word = UnsafeBufferPointer(rebasing: c.bytes[from..<to])
            if ignoreMerges, let id = idsBySpelling[wordSpelling(word)] {
                state.ids.append(id)
                if state.wantSpans {
                    state.byteRanges.append(Int32(from))
                    state.byteRanges.append(Int32(to))
                }
                continue
            }
            state.lengths.removeAll(keepingCapacity: true)
            state.workspace.encode(
                word: word, byteIDs: c.byteIDs, unknownID: unknown, merges: c.merges,
                outIDs: &state.ids, outLengths: &state.lengths)
            guard state.wantSpans else { continue }
            var position = Int32(from)
            for length in state.lengths {
                state.byteRanges.append(position)
                position += length
                state.byteRanges.append(position)
            }
        }
    }

    /// The vocabulary spelling of a word's bytes through the byte alphabet.
    private func wordSpelling(_ word: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var spelling: [UInt8] = []
        for b in word { spelling.append(contentsOf: ByteLevelAlphabet.spelling(ofByte: Int(b))) }
        return spelling
    }

    /// Converts token byte ranges (in text order, not overlapping) into `[start, end)` scalar
    /// spans: a token starts in the scalar holding its first byte and ends after the scalar
    /// holding its last byte.
    private func spans(byteRanges: [Int32], starts: [Int32]) -> [Int32] {
        var spans: [Int32] = []
        spans.reserveCapacity(byteRanges.count)
        let scalarCount = starts.count - 1
        var scalar = 0
        var r = 0
        while r < byteRanges.count {
            let from = byteRanges[r]
            let to = byteRanges[r + 1]
            r += 2
            while scalar < scalarCount, starts[scalar + 1] <= from { scalar += 1 }
            var last = scalar
            while last < scalarCount, starts[last + 1] < to { last += 1 }
            spans.append(Int32(scalar))
            spans.append(Int32(min(last + 1, scalarCount)))
        }
        return spans
    }
}

extension Tokenizer: CustomStringConvertible {
    /// A one-line summary (the tables themselves are far too large to print).
    public var description: String {
        "Tokenizer(byte-level BPE, \(vocabularySize) ids, \(merges.count) merges, \(addedTokens.count) added tokens, "
            + "pre-tokenizer \(preTokenizer.rawValue))"
    }
}
