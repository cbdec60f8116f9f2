// The one error type of the tokenizer: every failure to read or validate a tokenizer from a
// Hugging Face tokenizer.json, GGUF metadata or explicit lists. Messages are a single line naming
// the source (file path or "arguments") and the key or entry at fault. Encoding and decoding
// never throw: every String can be encoded and every id list decoded.

/// A tokenizer description that cannot be read or is not a byte-level BPE tokenizer mledit runs.
public enum TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file could not be read or parsed.
    case unreadable(source: String, reason: String)
    /// A required key is absent.
    case missingKey(source: String, key: String)
    /// The key holds a value of the wrong type or shape.
    case invalidValue(source: String, key: String, reason: String)
    /// One entry of a list (a merge, a token) is inconsistent; `index` is its 0-based position.
    case invalidEntry(source: String, key: String, index: Int, reason: String)
    /// The key names a tokenizer feature that is not implemented (e.g. a SentencePiece model).
    case unsupported(source: String, key: String, value: String)

    public var description: String {
        switch self {
        case let .unreadable(source, reason):
            return "\(source): cannot read tokenizer: \(reason)"
        case let .missingKey(source, key):
            return "\(source): missing key '\(key)'"
        case let .invalidValue(source, key, reason):
            return "\(source): key '\(key)': \(reason)"
        case let .invalidEntry(source, key, index, reason):
            return "\(source): key '\(key)' entry \(index): \(reason)"
        case let .unsupported(source, key, value):
            return "\(source): key '\(key)': unsupported value \(value)"
        }
    }
}
