// `mledit tokenize`: the ids, pieces and character offsets a model's tokenizer gives a text.
import Checkpoints
import Foundation
import MLEdit
import Models

enum TokenizeCommand {
    static let spec = CommandSpec(
        name: "tokenize",
        abstract: "Show the token ids and pieces of a text.",
        discussion: "Offsets are [start, end) in Unicode code points. Special-token text such as <|im_start|> is matched as the special token unless --specials-as-text is given.",
        arguments: [ArgumentSpec("TEXT", help: "The text to tokenize.")],
        options: [
            OptionSpec(["--model"], value: "PATH", help: "A GGUF file or a Hugging Face model folder (default: the repository's base model, else the default model)."),
            OptionSpec(["--specials-as-text"], help: "Tokenize special-token text as ordinary text."),
            OptionSpec(["--json"], help: "Print JSON: {\"ids\", \"tokens\": [{id, piece, start, end}]}."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let text = arguments.positionals[0]
        let modelURL = try ModelResolution.modelURL(arguments.value("--model"), session: console.session)
        let tokenizer = try ModelResolution.tokenizer(for: modelURL)
        let tokens = tokenizer.encodeWithOffsets(text, parseSpecialTokens: !arguments.flag("--specials-as-text"))
        if arguments.flag("--json") {
            try console.printJSON([
                "ids": tokens.map(\.id),
                "tokens": tokens.map { ["id": $0.id, "piece": tokenizer.piece($0.id), "start": $0.start, "end": $0.end] as [String: Any] },
            ])
            return
        }
        console.print(tokens.map { String($0.id) }.joined(separator: " "))
        let scalars = Array(text.unicodeScalars)
        for token in tokens {
            let span = String(String.UnicodeScalarView(scalars[max(0, token.start)..<min(scalars.count, token.end)]))
            console.print("\(token.id)\t\(tokenizer.piece(token.id))\t[\(token.start), \(token.end))\t\(span.debugDescription)")
        }
    }
}
