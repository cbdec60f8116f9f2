// Fixture access for the tokenizer tests: paths under Tests/Fixtures, the reference files'
// shapes, and tokenizers loaded once per test process. Holds no expectations itself.

import Foundation
import Models

enum TokenizerFixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    static func decode<T: Decodable>(_ type: T.Type, _ relative: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(contentsOf: url(relative)))
    }

    static let smolLM2 = Result { try Tokenizer(tokenizerJSON: url("smollm2/tokenizer.json")) }
    static let tiny = Result { try Tokenizer(tokenizerJSON: url("tiny-gpt2/tokenizer.json")) }
    static let tinyFacts = Result { try Tokenizer(tokenizerJSON: url("tiny-facts-gpt2/tokenizer.json")) }
    static let smolLM2Cases = Result { try decode(SmolLM2Tokenization.self, "smollm2/tokenization.json").cases }

    /// The default model's GGUF: MLEDIT_MODEL, else $MLEDIT_CACHE (default ~/.cache/mledit).
    static var modelURL: URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["MLEDIT_MODEL"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let cache = environment["MLEDIT_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/mledit").path
        return URL(fileURLWithPath: cache).appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
    }
}

// The reference files' shapes (only the fields the tokenizer tests read), nested so their names
// cannot clash with other suites' fixture types.
extension TokenizerFixtures {
    struct SmolLM2Tokenization: Decodable {
        struct Case: Decodable {
            let name: String
            let text: String
            let ids: [Int]
            let tokens: [String]
            let isSpecial: [Bool]
            let offsets: [[Int]]
            let decode: String
            let decodeSkipSpecial: String
            let idsSpecialsAsText: [Int]

            enum CodingKeys: String, CodingKey {
                case name, text, ids, tokens, offsets, decode
                case isSpecial = "is_special"
                case decodeSkipSpecial = "decode_skip_special"
                case idsSpecialsAsText = "ids_specials_as_text"
            }
        }

        let cases: [Case]
    }

    struct SmolLM2Logits: Decodable {
        struct Prompt: Decodable {
            struct WithBOS: Decodable { let ids: [Int] }
            struct SubjectLastToken: Decodable { let index: Int }
            let text: String
            let subject: String?
            let ids: [Int]
            let tokens: [String]
            let offsets: [[Int]]
            let withBOS: WithBOS
            let subjectLastToken: SubjectLastToken?

            enum CodingKeys: String, CodingKey {
                case text, subject, ids, tokens, offsets
                case withBOS = "with_bos"
                case subjectLastToken = "subject_last_token"
            }
        }

        let prompts: [Prompt]
    }

    /// The tokenization part of tiny-gpt2 / tiny-llama golden.json.
    struct TinyGolden: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let tokens: [String]
            let offsets: [[Int]]
            let decode: String
        }

        struct Sequence: Decodable {
            let source: String
            let text: String?
            let ids: [Int]
        }

        let tokenization: [Case]
        let sequences: [Sequence]
    }

    /// The token ids tiny-facts-gpt2/golden.json records for prompts and targets.
    struct TinyFactsGolden: Decodable {
        struct Completion: Decodable {
            let prompt: String
            let target: String
            let promptIDs: [Int]
            let targetIDs: [Int]

            enum CodingKeys: String, CodingKey {
                case prompt, target
                case promptIDs = "prompt_ids"
                case targetIDs = "target_ids"
            }
        }

        struct Fact: Decodable {
            struct TargetIDs: Decodable {
                let targetIDs: [Int]

                enum CodingKeys: String, CodingKey { case targetIDs = "target_ids" }
            }

            let caseID: Int
            let rewrite: Completion
            let targetNew: TargetIDs
            let paraphrases: [Completion]

            enum CodingKeys: String, CodingKey {
                case rewrite, paraphrases
                case caseID = "case_id"
                case targetNew = "target_new_on_rewrite_prompt"
            }
        }

        struct Sequence: Decodable {
            let text: String?
            let ids: [Int]
        }

        let perFact: [Fact]
        let sequences: [Sequence]

        enum CodingKeys: String, CodingKey {
            case sequences
            case perFact = "per_fact"
        }
    }

    /// tiny-facts-gpt2/facts.json records (only what the tokenizer tests read).
    struct TinyFactRecord: Decodable {
        struct Rewrite: Decodable {
            struct Target: Decodable { let str: String }
            let prompt: String
            let subject: String
            let targetNew: Target

            enum CodingKeys: String, CodingKey {
                case prompt, subject
                case targetNew = "target_new"
            }
        }

        let caseID: Int
        let requestedRewrite: Rewrite

        enum CodingKeys: String, CodingKey {
            case caseID = "case_id"
            case requestedRewrite = "requested_rewrite"
        }
    }
}
