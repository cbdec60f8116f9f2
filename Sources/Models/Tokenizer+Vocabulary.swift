// Building a tokenizer from explicit lists in GGUF's shape: a vocabulary indexed by id, merges as
// "left right" strings ranked by position, GGUF token types. Shared by `init(gguf:)`; the tables
// themselves are built by the designated initializer in Tokenizer.swift.

extension Tokenizer {
    /// Builds a tokenizer from a vocabulary (`vocabulary[id]` is the spelling of `id`) and merges
    /// (`"left right"`, rank = index), as GGUF stores them.
    /// - Parameters:
    ///   - tokenTypes: GGUF token types per id: 3 (control) tokens are special, 4 (user-defined)
    ///     tokens are matched whole in text even when special tokens are not parsed.
    ///   - specialTokens: further spellings (in `vocabulary`) that are special tokens.
    /// - Throws: `TokenizerError` if a merge or special token names a spelling not in the
    ///   vocabulary, or the lists disagree in length.
    public init(
        vocabulary: [String], merges: [String], tokenTypes: [Int]?, preTokenizer: PreTokenizerKind,
        bosTokenID: Int?, eosTokenID: Int?, unknownTokenID: Int?, paddingTokenID: Int?, addBOS: Bool,
        specialTokens: [String]
    ) throws {
        try self.init(
            source: "arguments", vocabulary: vocabulary, merges: merges, tokenTypes: tokenTypes,
            preTokenizer: preTokenizer, bosTokenID: bosTokenID, eosTokenID: eosTokenID,
            unknownTokenID: unknownTokenID, paddingTokenID: paddingTokenID, addBOS: addBOS,
            specialTokens: specialTokens)
    }

    /// `init(vocabulary:...)` with `source` naming the origin in errors and the lists' keys.
    init(
        source: String, vocabulary: [String], merges: [String], tokenTypes: [Int]?,
        preTokenizer: PreTokenizerKind, bosTokenID: Int?, eosTokenID: Int?, unknownTokenID: Int?,
        paddingTokenID: Int?, addBOS: Bool, specialTokens: [String],
        keys: (vocabulary: String, merges: String, types: String) = ("vocabulary", "merges", "tokenTypes")
    ) throws {
        if let tokenTypes, tokenTypes.count != vocabulary.count {
            throw TokenizerError.invalidValue(
                source: source, key: keys.types,
                reason: "\(tokenTypes.count) entries for \(vocabulary.count) tokens")
        }
        let pairs = try merges.enumerated().map { index, merge -> (Substring, Substring) in
            // The separator is the first space after the first character ("Ġ Ġ" is a valid
            // merge of two space tokens; a spelling never starts with a plain space).
            guard let space = merge.dropFirst().firstIndex(of: " ") else {
                throw TokenizerError.invalidEntry(
                    source: source, key: keys.merges, index: index, reason: "'\(merge)' is not two tokens")
            }
            return (merge[..<space], merge[merge.index(after: space)...])
        }
        var added: [AddedToken] = []
        var isAdded = Set<Int>()
        for (id, type) in (tokenTypes ?? []).enumerated() where type == 3 || type == 4 {
            added.append(AddedToken(id: Int32(id), bytes: Array(vocabulary[id].utf8), special: type == 3))
            isAdded.insert(id)
        }
        if !specialTokens.isEmpty {
            var firstID: [String: Int] = [:]
            for (id, piece) in vocabulary.enumerated() where firstID[piece] == nil { firstID[piece] = id }
            for (index, token) in specialTokens.enumerated() {
                guard let id = firstID[token], vocabulary[id].utf8.elementsEqual(token.utf8) else {
                    throw TokenizerError.invalidEntry(
                        source: source, key: "specialTokens", index: index, reason: "'\(token)' is not in the vocabulary")
                }
                if let existing = added.firstIndex(where: { $0.id == Int32(id) }) {
                    added[existing].special = true
                } else if !isAdded.contains(id) {
                    added.append(AddedToken(id: Int32(id), bytes: Array(token.utf8), special: true))
                    isAdded.insert(id)
                }
            }
        }
        try self.init(
            source: source, pieces: vocabulary, mergePairs: pairs, mergesKey: keys.merges, added: added,
            ignoreMerges: false, preTokenizer: preTokenizer, bosTokenID: bosTokenID, eosTokenID: eosTokenID,
            unknownTokenID: unknownTokenID, paddingTokenID: paddingTokenID, addBOS: addBOS)
    }
}
