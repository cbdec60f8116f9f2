// A Hugging Face tokenizer.json (and tokenizer_config.json) built from a GGUF file's byte-level
// BPE metadata (`tokenizer.ggml.*`), in the shape transformers saves: BPE model with vocabulary
// and merges, control and user-defined tokens as added tokens, ByteLevel decoder, and the
// pre-tokenizer `tokenizer.ggml.pre` names. SentencePiece vocabularies are refused, as on load.
import Checkpoints
import Foundation

extension CheckpointExport {
    /// The `tokenizer.json` equivalent to the GGUF's tokenizer: the same ids for every text.
    /// - Throws: `ModelError.missingKey`/`.invalidValue` for absent or malformed `tokenizer.ggml.*`
    ///   keys, `.unsupportedFeature` for tokenizers other than byte-level BPE with the GPT-2 or
    ///   SmolLM pre-tokenizer.
    public static func tokenizerJSON(gguf: GGUFFile) throws -> Data {
        let spec = try GGUFTokenizerSpec(gguf)
        var vocab: [(String, ExportJSON)] = []
        vocab.reserveCapacity(spec.tokens.count)
        var seen = Set<String>()
        for (id, token) in spec.tokens.enumerated() where seen.insert(token).inserted {
            vocab.append((token, .integer(id)))
        }
        let merges = try spec.merges.enumerated().map { index, merge -> ExportJSON in
            // The separator is the first space after the first character, as the loader splits.
            guard let space = merge.dropFirst().firstIndex(of: " ") else {
                throw ModelError.invalidValue(file: spec.file, key: "tokenizer.ggml.merges", reason: "entry \(index) '\(merge)' is not two tokens")
            }
            return .array([.string(String(merge[..<space])), .string(String(merge[merge.index(after: space)...]))])
        }
        let added: [ExportJSON] = spec.types.enumerated().compactMap { id, type in
            guard type == 3 || type == 4 else { return nil }
            return .object([
                ("id", .integer(id)), ("content", .string(spec.tokens[id])), ("single_word", .bool(false)),
                ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                ("special", .bool(type == 3)),
            ])
        }
        let byteLevel: ExportJSON = .object([
            ("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)),
            ("trim_offsets", .bool(true)), ("use_regex", .bool(true)),
        ])
        let preTokenizer: ExportJSON = spec.smollm
            ? .object([
                ("type", .string("Sequence")),
                ("pretokenizers", .array([.object([("type", .string("Digits")), ("individual_digits", .bool(true))]), byteLevel])),
            ])
            : byteLevel
        var single: [ExportJSON] = [.object([("Sequence", .object([("id", .string("A")), ("type_id", .integer(0))]))])]
        var pair: [ExportJSON] = single + [.object([("Sequence", .object([("id", .string("B")), ("type_id", .integer(1))]))])]
        var specialTokens: [(String, ExportJSON)] = []
        if spec.addBOS, let bos = spec.bosTokenID, bos < spec.tokens.count {
            let bosToken = spec.tokens[bos]
            let entry: ExportJSON = .object([("SpecialToken", .object([("id", .string(bosToken)), ("type_id", .integer(0))]))])
            single.insert(entry, at: 0)
            pair.insert(entry, at: 0)
            pair.insert(.object([("SpecialToken", .object([("id", .string(bosToken)), ("type_id", .integer(1))]))]), at: 2)
            specialTokens.append((bosToken, .object([("id", .string(bosToken)), ("ids", .array([.integer(bos)])), ("tokens", .array([.string(bosToken)]))])))
        }
        let document: ExportJSON = .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(added)),
            ("normalizer", .null),
            ("pre_tokenizer", preTokenizer),
            ("post_processor", .object([
                ("type", .string("TemplateProcessing")), ("single", .array(single)), ("pair", .array(pair)),
                ("special_tokens", .object(specialTokens)),
            ])),
            ("decoder", .object([
                ("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                ("trim_offsets", .bool(true)), ("use_regex", .bool(true)),
            ])),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null),
                ("continuing_subword_prefix", .string("")), ("end_of_word_suffix", .string("")),
                ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)), ("ignore_merges", .bool(false)),
                ("vocab", .object(vocab)), ("merges", .array(merges)),
            ])),
        ])
        return document.rendered()
    }

    /// The `tokenizer_config.json` naming the special tokens' roles (BOS, EOS, unknown, padding),
    /// whether BOS is prepended, and the chat template when the GGUF has one.
    /// - Throws: as `tokenizerJSON(gguf:)`.
    public static func tokenizerConfigJSON(gguf: GGUFFile, contextLength: Int) throws -> Data {
        let spec = try GGUFTokenizerSpec(gguf)
        func token(_ id: Int?) -> ExportJSON? {
            guard let id, id >= 0, id < spec.tokens.count else { return nil }
            return .string(spec.tokens[id])
        }
        var members: [(String, ExportJSON)] = [("add_bos_token", .bool(spec.addBOS)), ("add_eos_token", .bool(false))]
        if let bos = token(spec.bosTokenID) { members.append(("bos_token", bos)) }
        if let template = gguf.value(forKey: "tokenizer.chat_template")?.string { members.append(("chat_template", .string(template))) }
        members.append(("clean_up_tokenization_spaces", .bool(false)))
        if let eos = token(spec.eosTokenID) { members.append(("eos_token", eos)) }
        members.append(("model_max_length", .integer(contextLength)))
        if let pad = token(spec.paddingTokenID) { members.append(("pad_token", pad)) }
        members.append(("tokenizer_class", .string("PreTrainedTokenizerFast")))
        if let unknown = token(spec.unknownTokenID) { members.append(("unk_token", unknown)) }
        return ExportJSON.object(members).rendered()
    }
}

/// The `tokenizer.ggml.*` keys export reads, checked.
struct GGUFTokenizerSpec {
    var file: String
    var tokens: [String]
    var merges: [String]
    /// Per token: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    var types: [Int]
    var smollm: Bool
    var addBOS: Bool
    var bosTokenID: Int?
    var eosTokenID: Int?
    var unknownTokenID: Int?
    var paddingTokenID: Int?

    init(_ gguf: GGUFFile) throws {
        file = gguf.url.lastPathComponent
        let file = self.file
        func strings(_ key: String) throws -> [String] {
            guard let value = gguf.value(forKey: key) else { throw ModelError.missingKey(file: file, key: key) }
            guard let list = value.strings else { throw ModelError.invalidValue(file: file, key: key, reason: "not an array of strings") }
            return list
        }
        let model = gguf.value(forKey: "tokenizer.ggml.model")?.string
        guard model == "gpt2" else {
            throw ModelError.unsupportedFeature(file: file, feature: "tokenizer.ggml.model '\(model ?? "(absent)")' (byte-level BPE 'gpt2' only)")
        }
        switch gguf.value(forKey: "tokenizer.ggml.pre")?.string {
        case "smollm": smollm = true
        case nil, "gpt-2", "gpt2", "default": smollm = false
        case let other?: throw ModelError.unsupportedFeature(file: file, feature: "tokenizer.ggml.pre '\(other)'")
        }
        tokens = try strings("tokenizer.ggml.tokens")
        merges = try strings("tokenizer.ggml.merges")
        if let value = gguf.value(forKey: "tokenizer.ggml.token_type") {
            guard let items = value.array?.compactMap(\.integer), items.count == tokens.count else {
                throw ModelError.invalidValue(file: file, key: "tokenizer.ggml.token_type", reason: "expected \(tokens.count) integers")
            }
            types = items
        } else {
            types = Array(repeating: 1, count: tokens.count)
        }
        if case let .bool(flag)? = gguf.value(forKey: "tokenizer.ggml.add_bos_token") { addBOS = flag } else { addBOS = false }
        bosTokenID = gguf.value(forKey: "tokenizer.ggml.bos_token_id")?.integer
        eosTokenID = gguf.value(forKey: "tokenizer.ggml.eos_token_id")?.integer
        unknownTokenID = gguf.value(forKey: "tokenizer.ggml.unknown_token_id")?.integer
        paddingTokenID = gguf.value(forKey: "tokenizer.ggml.padding_token_id")?.integer
    }
}
