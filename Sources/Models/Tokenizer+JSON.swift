// Reading a Hugging Face tokenizer.json (and the tokenizer_config.json beside it, for the BOS,
// EOS, unknown and padding tokens). Only byte-level BPE is accepted: no normalizer, a ByteLevel
// pre-tokenizer (optionally behind Digits(individual_digits)), a ByteLevel or absent decoder,
// added tokens without `single_word`. Anything else is rejected with the key that holds it
// rather than tokenized wrongly.

import Foundation

extension Tokenizer {
    /// Reads a Hugging Face `tokenizer.json`. Special-token roles come from a
    /// `tokenizer_config.json` in the same folder when there is one (`bos_token`, `eos_token`,
    /// `unk_token`, `pad_token`, `add_bos_token`), and from the post-processor's template.
    /// - Throws: `TokenizerError` if a file cannot be read or parsed, or describes a tokenizer
    ///   other than byte-level BPE.
    public init(tokenizerJSON url: URL) throws {
        let source = url.path
        let file: TokenizerFile
        do {
            file = try JSONDecoder().decode(TokenizerFile.self, from: Data(contentsOf: url))
        } catch let error as DecodingError {
            throw TokenizerError.unreadable(source: source, reason: Self.describe(error))
        } catch {
            throw TokenizerError.unreadable(source: source, reason: error.localizedDescription)
        }
        let model = file.model
        if let type = model.type, type != "BPE" {
            throw TokenizerError.unsupported(source: source, key: "model.type", value: "'\(type)'")
        }
        if model.byteFallback == true {
            throw TokenizerError.unsupported(source: source, key: "model.byte_fallback", value: "true")
        }
        if let prefix = model.continuingSubwordPrefix, !prefix.isEmpty {
            throw TokenizerError.unsupported(source: source, key: "model.continuing_subword_prefix", value: "'\(prefix)'")
        }
        if let suffix = model.endOfWordSuffix, !suffix.isEmpty {
            throw TokenizerError.unsupported(source: source, key: "model.end_of_word_suffix", value: "'\(suffix)'")
        }
        if let normalizer = file.normalizer, normalizer != .null {
            throw TokenizerError.unsupported(source: source, key: "normalizer", value: normalizer.typeName)
        }
        if let decoder = file.decoder, decoder != .null, decoder.typeName != "ByteLevel" {
            throw TokenizerError.unsupported(source: source, key: "decoder", value: decoder.typeName)
        }
        let preTokenizer = try Self.preTokenizerKind(file.preTokenizer ?? .null, source: source)

        // Ids: the model's vocabulary, then added tokens (which may lie beyond it).
        var pieces: [String] = []
        func place(_ spelling: String, at id: Int, key: String) throws {
            guard id >= 0, id < 1 << 24 else {
                throw TokenizerError.invalidValue(source: source, key: key, reason: "token '\(spelling)' has id \(id)")
            }
            if id >= pieces.count { pieces.append(contentsOf: repeatElement("", count: id + 1 - pieces.count)) }
            if !pieces[id].isEmpty, !pieces[id].utf8.elementsEqual(spelling.utf8) {
                throw TokenizerError.invalidValue(
                    source: source, key: key, reason: "id \(id) is both '\(pieces[id])' and '\(spelling)'")
            }
            pieces[id] = spelling
        }
        for (spelling, id) in model.vocab { try place(spelling, at: id, key: "model.vocab") }
        var added: [AddedToken] = []
        for (index, entry) in (file.addedTokens ?? []).enumerated() {
            try place(entry.content, at: entry.id, key: "added_tokens")
            guard !entry.content.isEmpty else {
                throw TokenizerError.invalidEntry(source: source, key: "added_tokens", index: index, reason: "empty content")
            }
            if entry.singleWord == true {
                throw TokenizerError.unsupported(source: source, key: "added_tokens[\(index)].single_word", value: "true")
            }
            added.append(AddedToken(
                id: Int32(entry.id), bytes: Array(entry.content.utf8), special: entry.special ?? false,
                leftStrip: entry.lstrip ?? false, rightStrip: entry.rstrip ?? false))
        }
        let merges = try (model.merges ?? []).enumerated().map { index, merge in
            try merge.pair(source: source, index: index)
        }

        // Roles of special tokens.
        let config = try Self.readConfig(besides: url)
        func idOf(_ spelling: String?, key: String) throws -> Int? {
            guard let spelling else { return nil }
            if let entry = file.addedTokens?.first(where: { $0.content == spelling }) { return entry.id }
            if let id = model.vocab[spelling] { return id }
            throw TokenizerError.invalidValue(source: source, key: key, reason: "'\(spelling)' is not a token")
        }
        let templateBOS = file.postProcessor?.leadingTemplateSpecialToken
        let bos = try idOf(config?.bosToken?.content ?? templateBOS, key: "bos_token")
        let eos = try idOf(config?.eosToken?.content, key: "eos_token")
        let unknown = try idOf(config?.unkToken?.content ?? model.unkToken, key: "unk_token")
        let padding = try idOf(config?.padToken?.content, key: "pad_token")
        let addBOS = config?.addBOSToken ?? (templateBOS != nil)

        try self.init(
            source: source, pieces: pieces, mergePairs: merges, mergesKey: "model.merges", added: added,
            ignoreMerges: model.ignoreMerges ?? false, preTokenizer: preTokenizer, bosTokenID: bos,
            eosTokenID: eos, unknownTokenID: unknown, paddingTokenID: padding, addBOS: addBOS)
    }

    /// The pre-tokenizer a `pre_tokenizer` object describes, if it is one this tokenizer runs.
    private static func preTokenizerKind(_ value: JSONValue, source: String) throws -> PreTokenizerKind {
        func isPlainByteLevel(_ v: JSONValue) throws -> Bool {
            guard v.typeName == "ByteLevel" else { return false }
            if v["add_prefix_space"] == .bool(true) {
                throw TokenizerError.unsupported(source: source, key: "pre_tokenizer.add_prefix_space", value: "true")
            }
            if v["use_regex"] == .bool(false) {
                throw TokenizerError.unsupported(source: source, key: "pre_tokenizer.use_regex", value: "false")
            }
            return true
        }
        if try isPlainByteLevel(value) { return .gpt2 }
        if value.typeName == "Sequence", case let .array(steps)? = value["pretokenizers"], steps.count == 2,
           steps[0].typeName == "Digits", steps[0]["individual_digits"] == .bool(true),
           try isPlainByteLevel(steps[1]) {
            return .smollm
        }
        throw TokenizerError.unsupported(source: source, key: "pre_tokenizer", value: value.typeName)
    }

    /// tokenizer_config.json in the folder of `url`, if present.
    private static func readConfig(besides url: URL) throws -> TokenizerConfigFile? {
        let configURL = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        guard FileManager.default.fileExists(atPath: configURL.path) else { return nil }
        do {
            return try JSONDecoder().decode(TokenizerConfigFile.self, from: Data(contentsOf: configURL))
        } catch let error as DecodingError {
            throw TokenizerError.unreadable(source: configURL.path, reason: describe(error))
        } catch {
            throw TokenizerError.unreadable(source: configURL.path, reason: error.localizedDescription)
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(key, context):
            return "missing key '\(([path(context)] + [key.stringValue]).filter { !$0.isEmpty }.joined(separator: "."))'"
        case let .typeMismatch(_, context), let .valueNotFound(_, context):
            return "key '\(path(context))': \(context.debugDescription)"
        case let .dataCorrupted(context):
            return "\(path(context).isEmpty ? "" : "key '\(path(context))': ")\(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

// MARK: - File shapes

private struct TokenizerFile: Decodable {
    let addedTokens: [AddedTokenEntry]?
    let normalizer: JSONValue?
    let preTokenizer: JSONValue?
    let postProcessor: JSONValue?
    let decoder: JSONValue?
    let model: ModelEntry

    enum CodingKeys: String, CodingKey {
        case addedTokens = "added_tokens"
        case normalizer
        case preTokenizer = "pre_tokenizer"
        case postProcessor = "post_processor"
        case decoder
        case model
    }
}

private struct AddedTokenEntry: Decodable {
    let id: Int
    let content: String
    let special: Bool?
    let lstrip: Bool?
    let rstrip: Bool?
    let singleWord: Bool?

    enum CodingKeys: String, CodingKey {
        case id, content, special, lstrip, rstrip
        case singleWord = "single_word"
    }
}

private struct ModelEntry: Decodable {
    let type: String?
    let vocab: [String: Int]
    let merges: [MergeEntry]?
    let unkToken: String?
    let ignoreMerges: Bool?
    let byteFallback: Bool?
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?

    enum CodingKeys: String, CodingKey {
        case type, vocab, merges
        case unkToken = "unk_token"
        case ignoreMerges = "ignore_merges"
        case byteFallback = "byte_fallback"
        case continuingSubwordPrefix = "continuing_subword_prefix"
        case endOfWordSuffix = "end_of_word_suffix"
    }
}

/// A merge as `"left right"` (older files) or `["left", "right"]` (tokenizers >= 0.20).
private enum MergeEntry: Decodable {
    case joined(String)
    case pair([String])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .joined(text)
        } else {
            self = .pair(try container.decode([String].self))
        }
    }

    func pair(source: String, index: Int) throws -> (String, String) {
        switch self {
        case let .joined(text):
            guard let space = text.dropFirst().firstIndex(of: " ") else { break }
            return (String(text[..<space]), String(text[text.index(after: space)...]))
        case let .pair(parts):
            if parts.count == 2 { return (parts[0], parts[1]) }
        }
        throw TokenizerError.invalidEntry(source: source, key: "model.merges", index: index, reason: "not a pair of tokens")
    }
}

private struct TokenizerConfigFile: Decodable {
    let bosToken: TokenSpelling?
    let eosToken: TokenSpelling?
    let unkToken: TokenSpelling?
    let padToken: TokenSpelling?
    let addBOSToken: Bool?

    enum CodingKeys: String, CodingKey {
        case bosToken = "bos_token"
        case eosToken = "eos_token"
        case unkToken = "unk_token"
        case padToken = "pad_token"
        case addBOSToken = "add_bos_token"
    }
}

/// `"<s>"` or `{"content": "<s>", ...}`; null reads as no token.
private struct TokenSpelling: Decodable {
    let content: String?

    private enum CodingKeys: String, CodingKey { case content }

    init(from decoder: Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            content = nil
        } else if let text = try? single.decode(String.self) {
            content = text
        } else {
            content = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .content)
        }
    }
}

/// Any JSON value, for the loosely shaped pre-tokenizer, normalizer and post-processor objects.
private indirect enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    subscript(key: String) -> JSONValue? {
        if case let .object(members) = self { return members[key] }
        return nil
    }

    /// The object's `type` member, or a short description of a value that has none.
    var typeName: String {
        if case let .string(type)? = self["type"] { return type }
        switch self {
        case .null: return "null"
        case .object: return "an object without 'type'"
        default: return "a non-object value"
        }
    }

    /// The spelling of the special token a TemplateProcessing post-processor puts before the
    /// sequence of a single input (BOS), if it does.
    var leadingTemplateSpecialToken: String? {
        guard typeName == "TemplateProcessing", case let .array(items)? = self["single"],
              let first = items.first, case let .object(special)? = first["SpecialToken"],
              case let .string(id)? = special["id"] else { return nil }
        return id
    }
}
