// Pre-tokenization: splitting text into the words that BPE merges within. A hand-written scanner
// over Unicode scalars that gives exactly the matches of the GPT-2 regex
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// as Oniguruma, Python's `regex` and fancy_regex find them (\s = White_Space, \p{L} = L*,
// \p{N} = N*), and SmolLM's variant that first isolates every \p{N} scalar. It is deliberately
// not a regex engine: other pre-tokenizers (Llama 3, Qwen2, ...) are not implemented.

/// The rule that splits text into words before byte-level BPE.
public enum PreTokenizerKind: String, Sendable, CaseIterable {
    /// The GPT-2 regex.
    case gpt2
    /// Every numeric scalar (`\p{N}`) is its own word first, then the GPT-2 regex runs on each
    /// remaining piece (tokenizer.json `Sequence[Digits(individual_digits), ByteLevel]`,
    /// llama.cpp `tokenizer.ggml.pre = "smollm"`).
    case smollm

    /// The words of `text` as ranges of Unicode scalar indices, in order, covering the text.
    /// (Special tokens are not looked for here; `Tokenizer` splits them off first.)
    public func wordRanges(in text: String) -> [Range<Int>] {
        var text = text
        return text.withUTF8 { bytes in
            let map = ScalarMap(utf8: bytes)
            var words: [Int32] = []
            map.starts.withUnsafeBufferPointer { starts in
                map.classes.withUnsafeBufferPointer { classes in
                    appendWords(of: self, range: 0..<map.count, bytes: bytes, starts: starts, classes: classes, to: &words)
                }
            }
            return stride(from: 0, to: words.count, by: 2).map { Int(words[$0])..<Int(words[$0 + 1]) }
        }
    }
}

/// The character classes the GPT-2 regex distinguishes.
enum ScalarClass {
    static let letter: UInt8 = 0
    static let number: UInt8 = 1
    static let whitespace: UInt8 = 2
    static let other: UInt8 = 3

    /// Classes of the 128 ASCII scalars.
    static let ascii: [UInt8] = (0..<128).map { classify(UInt32($0)) }

    /// The class of one scalar: White_Space first, then the general category.
    static func classify(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return other }
        let properties = scalar.properties
        if properties.isWhitespace { return whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return other
        }
    }
}

/// A text's UTF-8 bytes split into scalars: where each scalar starts and its class.
struct ScalarMap {
    /// Byte offset of each scalar, followed by the byte count (so scalar i is
    /// `starts[i] ..< starts[i + 1]`). Shape (scalarCount + 1).
    var starts: [Int32] = []
    /// `ScalarClass` of each scalar. Shape (scalarCount).
    var classes: [UInt8] = []

    var count: Int { classes.count }

    /// Decodes well-formed UTF-8 (a Swift String's storage).
    init(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        starts.reserveCapacity(bytes.count + 1)
        classes.reserveCapacity(bytes.count)
        ScalarClass.ascii.withUnsafeBufferPointer { ascii in
            var p = 0
            let n = bytes.count
            while p < n {
                let b0 = bytes[p]
                starts.append(Int32(truncatingIfNeeded: p))
                if b0 < 0x80 {
                    classes.append(ascii[Int(b0)])
                    p += 1
                    continue
                }
                var value: UInt32
                var length: Int
                if b0 >= 0xF0 {
                    value = UInt32(b0 & 0x07)
                    length = 4
                } else if b0 >= 0xE0 {
                    value = UInt32(b0 & 0x0F)
                    length = 3
                } else {
                    value = UInt32(b0 & 0x1F)
                    length = 2
                }
                length = min(length, n - p)
                for q in 1..<max(length, 1) {
                    value = value << 6 | UInt32(bytes[p + q] & 0x3F)
                }
                classes.append(ScalarClass.classify(value))
                p += max(length, 1)
            }
            starts.append(Int32(truncatingIfNeeded: n))
        }
    }
}

/// Appends the words of scalars `range` as `(start, end)` scalar-index pairs to `words`.
/// `bytes` is the UTF-8 text `map` was built from; the range's ends act as the text's ends.
func appendWords(
    of kind: PreTokenizerKind, range: Range<Int>, bytes: UnsafeBufferPointer<UInt8>,
    starts: UnsafeBufferPointer<Int32>, classes: UnsafeBufferPointer<UInt8>, to words: inout [Int32]
) {
    switch kind {
    case .gpt2:
        appendGPT2Words(range: range, bytes: bytes, starts: starts, classes: classes, to: &words)
    case .smollm:
        var pieceStart = range.lowerBound
        for i in range where classes[i] == ScalarClass.number {
            if pieceStart < i {
                appendGPT2Words(range: pieceStart..<i, bytes: bytes, starts: starts, classes: classes, to: &words)
            }
            words.append(Int32(truncatingIfNeeded: i))
            words.append(Int32(truncatingIfNeeded: i + 1))
            pieceStart = i + 1
        }
        if pieceStart < range.upperBound {
            appendGPT2Words(
                range: pieceStart..<range.upperBound, bytes: bytes, starts: starts, classes: classes, to: &words)
        }
    }
}

/// The GPT-2 regex as a scanner. Alternatives are tried in the regex's order at each position;
/// the optional leading space is U+0020 only, and `\s+(?!\S)` backs off one scalar when the
/// whitespace run is followed by a non-space, so that the last space can prefix the next word.
private func appendGPT2Words(
    range: Range<Int>, bytes: UnsafeBufferPointer<UInt8>, starts: UnsafeBufferPointer<Int32>,
    classes: UnsafeBufferPointer<UInt8>, to words: inout [Int32]
) {
    let end = range.upperBound
    // The ASCII byte of scalar i, or 0 for a non-ASCII scalar.
    @inline(__always) func asciiByte(_ i: Int) -> UInt8 {
        let b = bytes[Int(starts[i])]
        return b < 0x80 ? b : 0
    }
    var i = range.lowerBound
    while i < end {
        var j: Int
        if asciiByte(i) == UInt8(ascii: "'"), let length = contractionLength(at: i, end: end, asciiByte) {
            j = i + length
        } else {
            var k = i
            if asciiByte(i) == UInt8(ascii: " "), i + 1 < end, classes[i + 1] != ScalarClass.whitespace {
                k = i + 1
            }
            let cls = classes[k]
            if cls != ScalarClass.whitespace {
                j = k + 1
                while j < end, classes[j] == cls { j += 1 }
            } else {
                var runEnd = i + 1
                while runEnd < end, classes[runEnd] == ScalarClass.whitespace { runEnd += 1 }
                j = (runEnd == end || runEnd - i == 1) ? runEnd : runEnd - 1
            }
        }
        words.append(Int32(truncatingIfNeeded: i))
        words.append(Int32(truncatingIfNeeded: j))
        i = j
    }
}

/// The length of `'s 't 're 've 'm 'll 'd` (case-sensitive) at scalar `i`, if one starts there.
@inline(__always)
private func contractionLength(at i: Int, end: Int, _ asciiByte: (Int) -> UInt8) -> Int? {
    guard i + 1 < end else { return nil }
    switch asciiByte(i + 1) {
    case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
        return 2
    case UInt8(ascii: "r"), UInt8(ascii: "v"):
        return i + 2 < end && asciiByte(i + 2) == UInt8(ascii: "e") ? 3 : nil
    case UInt8(ascii: "l"):
        return i + 2 < end && asciiByte(i + 2) == UInt8(ascii: "l") ? 3 : nil
    default:
        return nil
    }
}
