// Reading the tokenizer from GGUF metadata (`tokenizer.ggml.*`), as llama.cpp's converter writes
// it for byte-level BPE models (`tokenizer.ggml.model = "gpt2"`). Deliberately rejects
// SentencePiece ("llama") vocabularies and pre-tokenizers other than GPT-2's and SmolLM's.

import Checkpoints

extension Tokenizer {
    /// Builds the tokenizer a GGUF file describes. Control tokens (type 3) are special and
    /// matched whole in text; user-defined tokens (type 4) are always matched whole.
    /// - Throws: `TokenizerError` naming the file and key if a key is missing or of the wrong
    ///   type, or the tokenizer is not byte-level BPE with a supported pre-tokenizer.
    public init(gguf: GGUFFile) throws {
        let source = gguf.url.path
        func string(_ key: String) -> String? { gguf.value(forKey: key)?.string }
        func strings(_ key: String) throws -> [String] {
            guard let value = gguf.value(forKey: key) else { throw TokenizerError.missingKey(source: source, key: key) }
            guard let list = value.strings else {
                throw TokenizerError.invalidValue(source: source, key: key, reason: "not an array of strings")
            }
            return list
        }
        func id(_ key: String) throws -> Int? {
            guard let value = gguf.value(forKey: key) else { return nil }
            guard let id = value.integer else {
                throw TokenizerError.invalidValue(source: source, key: key, reason: "not an integer")
            }
            return id
        }

        let modelKey = "tokenizer.ggml.model"
        guard let model = string(modelKey) else { throw TokenizerError.missingKey(source: source, key: modelKey) }
        if model == "llama" {
            try self.init(sentencePiece: SentencePieceTokenizer(gguf: gguf), source: source)
            return
        }
        guard model == "gpt2" else {
            throw TokenizerError.unsupported(source: source, key: modelKey, value: "'\(model)' (byte-level BPE 'gpt2' or SentencePiece 'llama')")
        }
        let preKey = "tokenizer.ggml.pre"
        let preTokenizer: PreTokenizerKind
        switch string(preKey) {
        case "smollm":
            preTokenizer = .smollm
        case nil, "gpt-2", "gpt2", "default":
            preTokenizer = .gpt2
        case let other?:
            throw TokenizerError.unsupported(source: source, key: preKey, value: "'\(other)'")
        }

        let tokens = try strings("tokenizer.ggml.tokens")
        let merges = try strings("tokenizer.ggml.merges")
        let typesKey = "tokenizer.ggml.token_type"
        var types: [Int]?
        if let value = gguf.value(forKey: typesKey) {
            guard let elements = value.array else {
                throw TokenizerError.invalidValue(source: source, key: typesKey, reason: "not an array")
            }
            types = try elements.enumerated().map { index, element in
                guard let type = element.integer else {
                    throw TokenizerError.invalidEntry(source: source, key: typesKey, index: index, reason: "not an integer")
                }
                return type
            }
        }
        let addBOSKey = "tokenizer.ggml.add_bos_token"
        var addBOS = false
        if let value = gguf.value(forKey: addBOSKey) {
            guard case let .bool(flag) = value else {
                throw TokenizerError.invalidValue(source: source, key: addBOSKey, reason: "not a bool")
            }
            addBOS = flag
        }
        try self.init(
            source: source, vocabulary: tokens, merges: merges, tokenTypes: types, preTokenizer: preTokenizer,
            bosTokenID: try id("tokenizer.ggml.bos_token_id"), eosTokenID: try id("tokenizer.ggml.eos_token_id"),
            unknownTokenID: try id("tokenizer.ggml.unknown_token_id"),
            paddingTokenID: try id("tokenizer.ggml.padding_token_id"), addBOS: addBOS, specialTokens: [],
            keys: ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", typesKey))
    }

    /// A SentencePiece vocabulary behind the common interface: its pieces and control tokens for
    /// lookups and decoding, its own encoder for encoding.
    init(sentencePiece: SentencePieceTokenizer, source: String) throws {
        let mergePairs: [(String, String)] = []
        try self.init(source: source, pieces: sentencePiece.pieces, mergePairs: mergePairs, mergesKey: "tokenizer.ggml.merges",
                      added: [], ignoreMerges: false, preTokenizer: .gpt2, bosTokenID: sentencePiece.bosTokenID,
                      eosTokenID: sentencePiece.eosTokenID, unknownTokenID: sentencePiece.unknownTokenID, paddingTokenID: nil,
                      addBOS: sentencePiece.addBOS, sentencePiece: sentencePiece)
    }
}
