// `mledit init`: create a repository whose ledger references a base model by path and SHA-256
// (the checkpoint is never copied), or, with `--relink`, point the ledger at a base model file
// that moved. It does not load the weights; it reads only the checkpoint's configuration.
import Foundation
import Ledger
import MLEdit
import Models

enum InitCommand {
    static let spec = CommandSpec(
        name: "init",
        abstract: "Create a repository for edits of a base model.",
        discussion: """
        Creates .mledit/ledger.sqlite in DIR (default: the current directory) and records the base model: its absolute \
        path, SHA-256, format, architecture and configuration. The model is a .gguf file, a .safetensors file with its \
        config.json beside it, or a folder holding model.safetensors and config.json. With --relink, inside an existing \
        repository, records a new path for a base model file that moved (its SHA-256 must match the recorded one).
        """,
        options: [
            OptionSpec(["--model"], value: "PATH", help: "The base model checkpoint."),
            OptionSpec(["--dir"], value: "DIR", help: "Where to create the repository (default: the current directory)."),
            OptionSpec(["--relink"], value: "PATH", help: "New location of the moved base model of the current repository."),
            OptionSpec(["--branch"], value: "NAME", help: "Name of the initial branch (default main)."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        if let relinkPath = arguments.value("--relink") {
            if arguments.value("--model") != nil || arguments.value("--dir") != nil {
                throw UsageError("--relink cannot be combined with --model or --dir", command: "init")
            }
            try relink(path: relinkPath, console: console)
            return
        }
        guard let modelPath = arguments.value("--model") else {
            throw UsageError("missing --model PATH (or --relink PATH)", command: "init")
        }
        let root = arguments.value("--dir").map { console.url(forPath: $0) } ?? console.currentDirectory
        let workspace = try Workspace.create(model: console.url(forPath: modelPath), at: root,
                                             initialBranch: arguments.value("--branch") ?? Repository.defaultBranch,
                                             session: console.session)
        let base = try workspace.baseModel
        console.print("Initialized empty mledit repository in \(workspace.repository.ledgerURL.deletingLastPathComponent().path)")
        console.print("base model: \(base.path) (\(base.format), \(base.architecture), sha256 \(base.sha256.prefix(12)))")
    }

    /// Points the base model record with the digest of the file at `path` at that file.
    static func relink(path: String, console: Console) throws {
        let repository = try RepositoryLocator.require(console)
        let file = try BaseModels.checkpointFile(console.url(forPath: path))
        console.note("hashing \(file.path)")
        let digest = try SHA256.hash(fileAt: file).hex
        let records = try repository.baseModels()
        guard let record = records.first(where: { $0.sha256 == digest }) else {
            let recorded = records.map { "\($0.path) (sha256 \($0.sha256.prefix(12))…)" }.joined(separator: ", ")
            throw CommandFailure("\(file.path) has SHA-256 \(digest.prefix(12))…, which matches no base model of this repository: \(recorded)")
        }
        do {
            _ = try ModelLoader.open(url: file)
            _ = try ModelResolution.tokenizer(for: file)
        } catch {
            throw CommandFailure("\(file.path) has the recorded SHA-256 but cannot be loaded (\(MLEditCommandLine.oneLine(error))); nothing was changed")
        }
        if record.path == file.path {
            console.print("base model already at \(file.path)")
            return
        }
        try repository.updateBaseModelPath(id: record.id, path: file.path)
        console.print("relinked base model \(record.path) -> \(file.path)")
    }
}
