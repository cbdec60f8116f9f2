// The fast tokenizer against slow, independent references on seeded random text: the
// pre-tokenizer against the GPT-2 regex run by ICU (NSRegularExpression), BPE against a naive
// string-merging loop over the merges read straight from tokenizer.json; plus lossy decoding,
// explicit-list construction, error messages and a throughput figure.

import Foundation
import Models
import Tensors
import Testing

/// GPT-2's byte -> character table, written out independently of the library.
private let byteSpellings: [String] = {
    var spellings = [String](repeating: "", count: 256)
    var next = 256
    for b in 0..<256 {
        let kept = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
        let value = kept ? b : next
        if !kept { next += 1 }
        spellings[b] = String(Character(Unicode.Scalar(UInt32(value)) ?? "?"))
    }
    return spellings
}()

/// The GPT-2 pre-tokenizer regex with `\s` spelled as the White_Space property.
private let gpt2Regex = Result {
    try NSRegularExpression(pattern:
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+"#)
}

/// Words of `text` by the ICU regex (smollm: every \p{N} scalar split off first).
private func referenceWords(_ text: String, smollm: Bool) throws -> [String] {
    let regex = try gpt2Regex.get()
    func regexWords(_ piece: String) -> [String] {
        let ns = piece as NSString
        return regex.matches(in: piece, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range) }
    }
    guard smollm else { return regexWords(text) }
    var words: [String] = []
    var piece = ""
    for scalar in text.unicodeScalars {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber:
            if !piece.isEmpty { words += regexWords(piece) }
            piece = ""
            words.append(String(scalar))
        default:
            piece.unicodeScalars.append(scalar)
        }
    }
    if !piece.isEmpty { words += regexWords(piece) }
    return words
}

/// BPE by repeatedly merging the lowest-ranked adjacent pair of spellings (leftmost on ties).
private struct ReferenceBPE {
    struct File: Decodable {
        struct Model: Decodable {
            let vocab: [String: Int]
            let merges: [[String]]
        }
        let model: Model
    }

    let ranks: [String: Int]
    let vocabulary: [String: Int]

    init(_ relative: String) throws {
        let file = try TokenizerFixtures.decode(File.self, relative)
        var ranks: [String: Int] = [:]
        for (rank, pair) in file.model.merges.enumerated() where ranks[pair.joined(separator: " ")] == nil {
            ranks[pair.joined(separator: " ")] = rank
        }
        self.ranks = ranks
        vocabulary = file.model.vocab
    }

    /// Ids and UTF-8 byte counts of the word's tokens.
    func encode(_ word: String) -> [(id: Int, bytes: Int)] {
        var symbols = word.utf8.map { byteSpellings[Int($0)] }
        var lengths = [Int](repeating: 1, count: symbols.count)
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for i in 0..<(symbols.count - 1) {
                if let rank = ranks[symbols[i] + " " + symbols[i + 1]], rank < (best?.rank ?? .max) { best = (rank, i) }
            }
            guard let best else { break }
            symbols[best.index] += symbols.remove(at: best.index + 1)
            lengths[best.index] += lengths.remove(at: best.index + 1)
        }
        return zip(symbols, lengths).map { (vocabulary[$0] ?? -1, $1) }
    }
}

/// Seeded random text from fragments that stress the pre-tokenizer and the merges.
private func randomTexts(count: Int, seed: UInt64) -> [String] {
    let fragments = [
        "a", "b", "Z", "e", "s", "t", "re", "ll", "d", "m", "ve", "'", "'", " ", " ", "  ", "   ", "\n", "\n\n",
        "\t", "\r\n", "1", "23", "4", "½", "²", "Ⅻ", "١", "３", "é", "e\u{301}", "ñ", "東京", "。", "😀", "👍🏽",
        "\u{200D}", "\u{A0}", "\u{200B}", "\u{85}", "\u{2028}", "\u{3000}", "\u{0B}", "\u{0C}", "\u{1F}", "!", "?",
        ".", ",", "-", "(", ")", "\"", "“", "—", "ǅ", "ʰ", "Ω", "ж", "<|im_start|>", "<|endoftext|>", "<|im_end",
        "hello", " the", "It", "IT'S", "'s", "'re", "ing", " world", "Ġ", "<", "|",
    ]
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in
        (0..<Int.random(in: 1...24, using: &generator)).map { _ in fragments.randomElement(using: &generator) ?? "" }.joined()
    }
}

@Suite("Tokenizer against references")
struct TokenizerPropertyTests {
    @Test("pre-tokenizer words equal the ICU regex's on random text", arguments: [PreTokenizerKind.gpt2, .smollm])
    func preTokenizerMatchesRegex(kind: PreTokenizerKind) throws {
        for text in randomTexts(count: 2000, seed: 7) {
            let scalars = Array(text.unicodeScalars)
            let words = kind.wordRanges(in: text).map { range in
                var word = ""
                word.unicodeScalars.append(contentsOf: scalars[range])
                return word
            }
            let expected = try referenceWords(text, smollm: kind == .smollm)
            #expect(words.map { Array($0.unicodeScalars) } == expected.map { Array($0.unicodeScalars) },
                    "\(kind) words of \(text.debugDescription)")
        }
    }

    @Test("pre-tokenizer on the cases the fixtures README singles out")
    func preTokenizerExamples() {
        func words(_ kind: PreTokenizerKind, _ text: String) -> [String] {
            let scalars = Array(text.unicodeScalars)
            return kind.wordRanges(in: text).map { range in
                var word = ""
                word.unicodeScalars.append(contentsOf: scalars[range])
                return word
            }
        }
        #expect(words(.gpt2, "x  1") == ["x", " ", " 1"])
        #expect(words(.smollm, "x  1") == ["x", "  ", "1"])
        #expect(words(.smollm, "Step\n\n1.") == ["Step", "\n\n", "1", "."])
        #expect(words(.gpt2, " ½") == [" ½"])
        #expect(words(.smollm, " ½") == [" ", "½"])
        #expect(words(.gpt2, "it's IT'S  ok\n\n a") == ["it", "'s", " IT", "'", "S", " ", " ok", "\n\n", " a"])
        #expect(words(.gpt2, "") == [])
    }

    @Test("BPE equals naive merging, offsets follow bytes, and decode inverts encode", arguments: [
        "smollm2/tokenizer.json", "tiny-gpt2/tokenizer.json",
    ])
    func bpeMatchesReference(file: String) throws {
        let tokenizer = try Tokenizer(tokenizerJSON: TokenizerFixtures.url(file))
        let reference = try ReferenceBPE(file)
        let smollm = tokenizer.preTokenizer == .smollm
        for text in randomTexts(count: 600, seed: 11) {
            var expected: [(id: Int, bytes: Int)] = []
            for word in try referenceWords(text, smollm: smollm) { expected += reference.encode(word) }
            let encoded = tokenizer.encodeWithOffsets(text, parseSpecialTokens: false)
            #expect(encoded.map(\.id) == expected.map(\.id), "ids of \(text.debugDescription)")
            // Offsets from the reference tokens' byte lengths, via each scalar's UTF-8 width.
            var scalarOfByte: [Int] = []
            for (index, scalar) in text.unicodeScalars.enumerated() {
                scalarOfByte += repeatElement(index, count: String(scalar).utf8.count)
            }
            var byte = 0
            let expectedSpans = expected.map { token -> [Int] in
                defer { byte += token.bytes }
                return [scalarOfByte[byte], scalarOfByte[byte + token.bytes - 1] + 1]
            }
            #expect(encoded.map { [$0.start, $0.end] } == expectedSpans, "offsets of \(text.debugDescription)")
            #expect(tokenizer.decode(encoded.map(\.id)) == text, "round trip of \(text.debugDescription)")
            let withSpecials = tokenizer.encode(text)
            #expect(tokenizer.decode(withSpecials) == text, "round trip with specials of \(text.debugDescription)")
        }
    }

    @Test("decode replaces each maximal invalid UTF-8 subpart with U+FFFD")
    func lossyDecode() throws {
        let tokenizer = try TokenizerFixtures.smolLM2.get()
        func ids(_ bytes: [UInt8]) throws -> [Int] {
            try bytes.map { byte in
                let id = tokenizer.id(forPiece: byteSpellings[Int(byte)])
                return try #require(id, "no token for byte \(byte)")
            }
        }
        let cases: [([UInt8], String)] = [
            ([0xE2, 0x82, 0xAC], "€"),
            ([0xF0, 0x9F, 0x61], "\u{FFFD}a"),
            ([0x80, 0x61], "\u{FFFD}a"),
            ([0xE2, 0x28, 0xA1], "\u{FFFD}(\u{FFFD}"),
            ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),
            ([0xF4, 0x90, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
            ([0xE2, 0x82, 0xE2, 0x82, 0xAC], "\u{FFFD}€"),
            ([0xF0, 0x9F, 0x98], "\u{FFFD}"),
        ]
        for (bytes, text) in cases {
            let decoded = tokenizer.decode(try ids(bytes))
            #expect(decoded == text, "bytes \(bytes)")
        }
        #expect(tokenizer.decode([-1, 49152, 1_000_000]) == "")
    }

    @Test("explicit lists: merges, control and user-defined tokens")
    func explicitLists() throws {
        let merges = ["Ġ t", "h e", "Ġt he"]
        let vocabulary = ["<ctl>", "<user>"] + byteSpellings + ["Ġt", "he", "Ġthe"]
        let types = [3, 4] + [Int](repeating: 1, count: vocabulary.count - 2)
        let tokenizer = try Tokenizer(
            vocabulary: vocabulary, merges: merges, tokenTypes: types, preTokenizer: .gpt2, bosTokenID: 0,
            eosTokenID: 0, unknownTokenID: nil, paddingTokenID: nil, addBOS: true, specialTokens: [])
        let the = try #require(tokenizer.id(forPiece: "Ġthe"))
        #expect(the == vocabulary.count - 1)
        #expect(tokenizer.encode(" the") == [the])
        #expect(tokenizer.encode("<ctl> the<user>") == [0, the, 1])
        let asText = tokenizer.encode("<ctl> the<user>", parseSpecialTokens: false)
        #expect(asText.first != 0 && asText.last == 1, "control text is plain text, user-defined still matches")
        #expect(tokenizer.decode([0, the, 1], skipSpecialTokens: true) == " the<user>")
        #expect(tokenizer.addBOS && tokenizer.isSpecial(0) && !tokenizer.isSpecial(1))
    }

    @Test("tokenizer.json options: ignore_merges, lstrip and rstrip of added tokens")
    func jsonOptions() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-options-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(ignoreMerges: Bool) throws -> URL {
            var vocab: [String: Int] = [:]
            for (b, spelling) in byteSpellings.enumerated() { vocab[spelling] = b }
            vocab["Ġthe"] = 256
            vocab["<x>"] = 257
            let file: [String: Any] = [
                "added_tokens": [["id": 257, "content": "<x>", "special": true, "lstrip": true, "rstrip": true]],
                "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
                "model": ["type": "BPE", "vocab": vocab, "merges": [[String]](), "ignore_merges": ignoreMerges],
            ]
            let url = folder.appendingPathComponent("ignore-\(ignoreMerges)").appendingPathComponent("tokenizer.json")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: file).write(to: url)
            return url
        }
        let plain = try Tokenizer(tokenizerJSON: write(ignoreMerges: false))
        let whole = try Tokenizer(tokenizerJSON: write(ignoreMerges: true))
        // Here byte b's token has id b, so " the" without merges is [0x20, 0x74, 0x68, 0x65].
        #expect(plain.encode(" the") == [0x20, 0x74, 0x68, 0x65])
        #expect(whole.encode(" the") == [256])
        #expect(whole.encodeWithOffsets("a <x> the") == [
            EncodedToken(id: 0x61, start: 0, end: 1), EncodedToken(id: 257, start: 1, end: 6),
            EncodedToken(id: 0x74, start: 6, end: 7), EncodedToken(id: 0x68, start: 7, end: 8),
            EncodedToken(id: 0x65, start: 8, end: 9),
        ])
        #expect(whole.encode("a <x> the", parseSpecialTokens: false).contains(256))
        #expect(whole.decode(whole.encode("a <x> the")) == "a<x>the")
    }

    @Test("construction errors name the source and the entry")
    func errors() throws {
        let spellings = byteSpellings
        #expect(throws: TokenizerError.invalidEntry(
            source: "arguments", key: "merges", index: 1,
            reason: "token 'q' of merge 'h q' is not in the vocabulary")) {
            _ = try Tokenizer(
                vocabulary: spellings.filter { $0 != "q" } + ["he"], merges: ["h e", "h q"], tokenTypes: nil,
                preTokenizer: .gpt2, bosTokenID: nil, eosTokenID: nil, unknownTokenID: nil, paddingTokenID: nil,
                addBOS: false, specialTokens: [])
        }
        #expect(throws: TokenizerError.self) {
            _ = try Tokenizer(
                vocabulary: spellings, merges: ["he"], tokenTypes: nil, preTokenizer: .gpt2, bosTokenID: nil,
                eosTokenID: nil, unknownTokenID: nil, paddingTokenID: nil, addBOS: false, specialTokens: ["<s>"])
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let unigram = folder.appendingPathComponent("tokenizer.json")
        try Data(#"{"model": {"type": "Unigram", "vocab": {}}}"#.utf8).write(to: unigram)
        #expect(throws: TokenizerError.unsupported(source: unigram.path, key: "model.type", value: "'Unigram'")) {
            _ = try Tokenizer(tokenizerJSON: unigram)
        }
        let metaspace = folder.appendingPathComponent("metaspace.json")
        try Data(#"{"pre_tokenizer": {"type": "Metaspace"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#.utf8)
            .write(to: metaspace)
        #expect(throws: TokenizerError.unsupported(source: metaspace.path, key: "pre_tokenizer", value: "Metaspace")) {
            _ = try Tokenizer(tokenizerJSON: metaspace)
        }
        let missing = folder.appendingPathComponent("absent.json")
        do {
            _ = try Tokenizer(tokenizerJSON: missing)
            Issue.record("reading a missing file succeeded")
        } catch let error as TokenizerError {
            #expect(error.description.hasPrefix(missing.path) && !error.description.contains("\n"))
        }
    }

    @Test("throughput on repeated fixture text and on random words (round trip checked)")
    func throughput() throws {
        let tokenizer = try TokenizerFixtures.smolLM2.get()
        let cases = try TokenizerFixtures.smolLM2Cases.get()
        let megabytes = Double(ProcessInfo.processInfo.environment["MLEDIT_TOKENIZER_BENCH_MB"] ?? "") ?? 0.25
        let byteCount = Int(megabytes * 1_048_576)
        let unit = cases.map(\.text).joined(separator: "\n")
        let repeated = [String](repeating: unit, count: max(1, byteCount / unit.utf8.count)).joined(separator: "\n")
        // Mostly unseen words, so the per-call word cache rarely hits and the merge loop is measured.
        var generator = SeededGenerator(seed: 5)
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        var random = ""
        while random.utf8.count < byteCount {
            random += " " + String((0..<Int.random(in: 2...12, using: &generator)).map { _ in
                letters.randomElement(using: &generator) ?? "a"
            })
        }
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        for (label, text) in [("fixture text", repeated), ("random words", random)] {
            let clock = ContinuousClock()
            var ids: [Int] = []
            let encodeTime = clock.measure { ids = tokenizer.encode(text) }
            var decoded = ""
            let decodeTime = clock.measure { decoded = tokenizer.decode(ids) }
            #expect(decoded == text, "round trip of the \(label)")
            #expect(ids.count > text.utf8.count / 8, "token count of the \(label)")
            let size = Double(text.utf8.count) / 1_048_576
            print(String(format: "tokenizer throughput, %@: %.2f MB, %d tokens, encode %.0f tokens/s (%.2f MB/s), decode %.0f tokens/s",
                         label, size, ids.count, Double(ids.count) / seconds(encodeTime), size / seconds(encodeTime),
                         Double(ids.count) / seconds(decodeTime)))
        }
        let loadTime = ContinuousClock().measure { _ = try? Tokenizer(tokenizerJSON: TokenizerFixtures.url("smollm2/tokenizer.json")) }
        print(String(format: "tokenizer load, smollm2/tokenizer.json: %.3f s", seconds(loadTime)))
    }
}
