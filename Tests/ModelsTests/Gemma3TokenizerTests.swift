// Gemma-3-270M's SentencePiece tokenizer, read from the fetched GGUF, against the ids
// transformers' GGUF tokenizer gives for the varied strings of gemma3/tokenization.json (made by
// scripts/make-gemma3-fixtures golden), and decoding back to the text.
import Checkpoints
import Foundation
import Models
import Testing

@Suite("Gemma-3 tokenizer")
struct Gemma3TokenizerTests {
    @Test("ids equal transformers' for every fixture string; decoding gives the text back",
          .enabled(if: Gemma3Fixture.realModelFetched, "Gemma-3-270M not fetched (scripts/fetch-model --model gemma3-270m)"))
    func referenceIDs() throws {
        let tokenizer = try SentencePieceTokenizer(gguf: GGUFFile(contentsOf: Gemma3Fixture.realModelURL))
        #expect(tokenizer.vocabularySize == 262_144 && tokenizer.bosTokenID == 2 && tokenizer.eosTokenID == 1 && tokenizer.addBOS)
        let cases = dictionaries(try Fixtures.json("gemma3/tokenization.json")["cases"])
        try #require(cases.count == 24)
        for entry in cases {
            let text = entry["text"] as? String ?? ""
            let ids = tokenizer.encode(text).map(Int.init)
            #expect(ids == ints(entry["ids"]), "\(text.debugDescription)")
            #expect(tokenizer.decode(tokenizer.encode(text)).hasSuffix(text) && tokenizer.decode(tokenizer.encode(text, addingBOS: false)) == text,
                    "\(text.debugDescription): decode")
        }
        // Control tokens are text when special tokens are not parsed.
        #expect(!tokenizer.encode("<start_of_turn>", parseSpecialTokens: false).contains(105))
        #expect(tokenizer.encode("<start_of_turn>", addingBOS: false) == [105] && tokenizer.isSpecial(105))
    }
}
